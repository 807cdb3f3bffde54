import Foundation
import PluginABI

// Plugin-side helpers for transport plugins: a Swift TransportProvider becomes the C descriptor
// the plugin's `plumise_plugin_entry` returns. Handles cross the boundary as retained opaque
// pointers; close releases them.

/// Thrown by transport code; the message reaches the host verbatim.
public struct TransportFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// A listening endpoint on the plugin side.
public protocol TransportListenerHandle: AnyObject {
    /// The next client, or nil when `timeoutMs` (> 0) passed without one.
    func accept(timeoutMs: Int32) throws -> TransportConnectionHandle?
    func close()
}

/// One byte stream on the plugin side.
public protocol TransportConnectionHandle: AnyObject {
    func send(_ bytes: UnsafeRawBufferPointer) throws
    /// Fills `buffer` completely within `timeoutMs` (> 0) in total; false when no byte arrived.
    func receive(into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int32) throws -> Bool
    func close()
    /// The remote peer's host, for per-address connection limits (nil: unknown).
    var peerHost: String? { get }
}

extension TransportConnectionHandle {
    public var peerHost: String? { nil }
}

/// What a transport plugin implements in Swift.
public protocol TransportProvider {
    var name: String { get }
    var version: String { get }
    var summary: String { get }
    /// Listens on `address`; returns the listener and the address it is bound to.
    func listen(address: String) throws -> (TransportListenerHandle, bound: String)
    func connect(address: String, timeoutMs: Int32) throws -> TransportConnectionHandle
}

/// Boxes keep the Swift objects alive while the host holds their opaque pointers.
private final class ListenerBox { let value: TransportListenerHandle; init(_ v: TransportListenerHandle) { value = v } }
private final class ConnectionBox { let value: TransportConnectionHandle; init(_ v: TransportConnectionHandle) { value = v } }

nonisolated(unsafe) private var exportedTransport: TransportProvider?
nonisolated(unsafe) private var exportedTransportDescriptor: UnsafeMutablePointer<pp_plugin_descriptor>?
private let transportExportLock = NSLock()

private func listener(_ handle: OpaquePointer) -> TransportListenerHandle {
    Unmanaged<ListenerBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue().value
}

private func connection(_ handle: OpaquePointer) -> TransportConnectionHandle {
    Unmanaged<ConnectionBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue().value
}

private func retained(_ connection: TransportConnectionHandle) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(ConnectionBox(connection)).toOpaque())
}

private let transportTable: pp_transport_vtable = {
    var table = pp_transport_vtable()
    table.struct_size = UInt32(MemoryLayout<pp_transport_vtable>.size)
    table.listen = { address, bound, boundCap, err, cap in
        guard let address, let provider = exportedTransport else {
            writePluginError("plugin not initialised", err, cap)
            return nil
        }
        do {
            let (handle, boundAddress) = try provider.listen(address: String(cString: address))
            writePluginError(boundAddress, bound, boundCap)
            return OpaquePointer(Unmanaged.passRetained(ListenerBox(handle)).toOpaque())
        } catch {
            writePluginError("\(error)", err, cap)
            return nil
        }
    }
    table.accept = { handle, timeout, err, cap in
        guard let handle else { return nil }
        writePluginError("", err, cap)
        do {
            return try listener(handle).accept(timeoutMs: timeout).map(retained)
        } catch {
            writePluginError("\(error)", err, cap)
            return nil
        }
    }
    table.close_listener = { handle in
        guard let handle else { return }
        let box = Unmanaged<ListenerBox>.fromOpaque(UnsafeRawPointer(handle))
        box.takeUnretainedValue().value.close()
        box.release()
    }
    table.connect = { address, timeout, err, cap in
        guard let address, let provider = exportedTransport else {
            writePluginError("plugin not initialised", err, cap)
            return nil
        }
        do {
            return retained(try provider.connect(address: String(cString: address), timeoutMs: timeout))
        } catch {
            writePluginError("\(error)", err, cap)
            return nil
        }
    }
    table.send_all = { handle, bytes, length, err, cap in
        guard let handle else { return -1 }
        do {
            try connection(handle).send(UnsafeRawBufferPointer(start: bytes, count: length))
            return 0
        } catch {
            writePluginError("\(error)", err, cap)
            return -1
        }
    }
    table.recv_exact = { handle, bytes, length, timeout, err, cap in
        guard let handle else { return -1 }
        do {
            let complete = try connection(handle).receive(into: UnsafeMutableRawBufferPointer(start: bytes, count: length),
                                                          timeoutMs: timeout)
            return complete ? 0 : PP_RECV_TIMEOUT
        } catch {
            writePluginError("\(error)", err, cap)
            return -1
        }
    }
    table.close = { handle in
        guard let handle else { return }
        let box = Unmanaged<ConnectionBox>.fromOpaque(UnsafeRawPointer(handle))
        box.takeUnretainedValue().value.close()
        box.release()
    }
    table.peer_host = { handle, out, cap in
        guard let handle, let host = connection(handle).peerHost else { return -1 }
        writePluginError(host, out, cap)
        return 0
    }
    return table
}()

private let transportTablePointer: UnsafeMutablePointer<pp_transport_vtable> = {
    let pointer = UnsafeMutablePointer<pp_transport_vtable>.allocate(capacity: 1)
    pointer.initialize(to: transportTable)
    return pointer
}()

extension PluginExport {
    /// The descriptor for a transport plugin. Call from the plugin's
    /// `@_cdecl("plumise_plugin_entry")` function; repeated calls return the same descriptor.
    public static func transport(_ provider: TransportProvider) -> UnsafePointer<pp_plugin_descriptor> {
        transportExportLock.lock()
        defer { transportExportLock.unlock() }
        if let existing = exportedTransportDescriptor { return UnsafePointer(existing) }
        exportedTransport = provider
        let descriptor = makeDescriptor(kind: PP_KIND_TRANSPORT, name: provider.name, version: provider.version,
                                        summary: provider.summary, vtable: UnsafeRawPointer(transportTablePointer))
        exportedTransportDescriptor = descriptor
        return UnsafePointer(descriptor)
    }
}
