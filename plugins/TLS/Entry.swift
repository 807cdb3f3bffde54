import PluginABI
import PluginAPI

/// The plugin's only exported symbol: the host dlopens libTLSPlugin.so and calls this.
@_cdecl("plumise_plugin_entry")
public func plumisePluginEntry() -> UnsafePointer<pp_plugin_descriptor> {
    PluginExport.transport(TLSTransport())
}
