import PluginABI
import PluginAPI
import SafetensorsFormat

/// The plugin's only exported symbol: the host dlopens libSafetensorsPlugin.so and calls this.
@_cdecl("plumise_plugin_entry")
public func plumisePluginEntry() -> UnsafePointer<pp_plugin_descriptor> {
    PluginExport.modelFormat(SafetensorsFormatProvider())
}
