import Foundation
import PluginABI

/// Errors of a transport, with the plugin's own message.
public enum TransportError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case listenFailed(address: String, reason: String)
    case connectFailed(address: String, reason: String)
    case sendFailed(String)
    case receiveFailed(String)
    case closed

    public var description: String {
        switch self {
        case .listenFailed(let address, let reason): return "cannot listen on \(address): \(reason)"
        case .connectFailed(let address, let reason): return "cannot connect to \(address): \(reason)"
        case .sendFailed(let reason): return "send failed: \(reason)"
        case .receiveFailed(let reason): return "receive failed: \(reason)"
        case .closed: return "connection is closed"
        }
    }

    public var errorDescription: String? { description }
}

private func milliseconds(_ seconds: Double?) -> Int32 {
    guard let seconds, seconds > 0 else { return 0 }
    return Int32(clamping: Int((seconds * 1000).rounded(.up)))
}

/// Host-side handle on a transport plugin's function table.
public struct TransportPlugin: Sendable {
    public let plugin: LoadedPlugin

    var table: pp_transport_vtable {
        plugin.descriptor.pointee.vtable.assumingMemoryBound(to: pp_transport_vtable.self).pointee
    }

    public func listen(address: String) throws -> TransportListener {
        var err = [CChar](repeating: 0, count: Int(PP_ERROR_CAPACITY))
        var bound = [CChar](repeating: 0, count: 512)
        let table = self.table
        guard let handle = address.withCString({ table.listen($0, &bound, bound.count, &err, err.count) }) else {
            throw TransportError.listenFailed(address: address, reason: String(cString: err))
        }
        return TransportListener(table: table, handle: handle, boundAddress: String(cString: bound))
    }

    /// Connects within `timeout` seconds (nil: the plugin's default).
    public func connect(address: String, timeout: Double? = 5) throws -> TransportConnection {
        var err = [CChar](repeating: 0, count: Int(PP_ERROR_CAPACITY))
        let table = self.table
        let ms = milliseconds(timeout)
        guard let handle = address.withCString({ table.connect($0, ms, &err, err.count) }) else {
            throw TransportError.connectFailed(address: address, reason: String(cString: err))
        }
        return TransportConnection(table: table, handle: handle)
    }
}

/// A listening endpoint; closed when released or by `close()`.
public final class TransportListener: @unchecked Sendable {
    public let boundAddress: String
    private let table: pp_transport_vtable
    private var handle: OpaquePointer?
    private let lock = NSLock()

    init(table: pp_transport_vtable, handle: OpaquePointer, boundAddress: String) {
        self.table = table
        self.handle = handle
        self.boundAddress = boundAddress
    }

    /// The next client, or nil after `timeout` seconds without one.
    public func accept(timeout: Double?) throws -> TransportConnection? {
        guard let handle = lock.withLock({ self.handle }) else { throw TransportError.closed }
        var err = [CChar](repeating: 0, count: Int(PP_ERROR_CAPACITY))
        guard let connection = table.accept(handle, milliseconds(timeout), &err, err.count) else {
            if err[0] == 0 { return nil }
            throw TransportError.receiveFailed(String(cString: err))
        }
        return TransportConnection(table: table, handle: connection)
    }

    /// Stops listening. Call only when no thread is inside `accept`.
    public func close() {
        lock.withLock {
            if let handle { table.close_listener(handle) }
            handle = nil
        }
    }

    deinit { close() }
}

/// One byte stream between two nodes, used by one thread at a time.
public final class TransportConnection: @unchecked Sendable {
    private let table: pp_transport_vtable
    private var handle: OpaquePointer?

    init(table: pp_transport_vtable, handle: OpaquePointer) {
        self.table = table
        self.handle = handle
    }

    public var isOpen: Bool { handle != nil }

    /// The remote peer's host (an IP address for TCP), when the plugin can tell.
    public var peerHost: String? {
        // peer_host came after the first table: only tables that declare room for it have it.
        let offset = MemoryLayout<pp_transport_vtable>.offset(of: \pp_transport_vtable.peer_host) ?? Int.max
        guard let handle, Int(table.struct_size) > offset, let peerHost = table.peer_host else { return nil }
        var out = [CChar](repeating: 0, count: 128)
        guard peerHost(handle, &out, out.count) == 0 else { return nil }
        return String(cString: out)
    }

    public func send(_ bytes: [UInt8]) throws {
        guard let handle else { throw TransportError.closed }
        var err = [CChar](repeating: 0, count: Int(PP_ERROR_CAPACITY))
        let status = bytes.withUnsafeBytes { table.send_all(handle, $0.baseAddress, $0.count, &err, err.count) }
        guard status == 0 else { throw TransportError.sendFailed(String(cString: err)) }
    }

    /// Exactly `count` bytes within `timeout` seconds in total, or nil when none arrived in that
    /// time (nil timeout: wait forever). Bytes that start but do not complete in time throw.
    public func receive(exactly count: Int, timeout: Double?) throws -> [UInt8]? {
        guard let handle else { throw TransportError.closed }
        var err = [CChar](repeating: 0, count: Int(PP_ERROR_CAPACITY))
        var bytes = [UInt8](repeating: 0, count: count)
        let ms = milliseconds(timeout)
        let status = bytes.withUnsafeMutableBytes { table.recv_exact(handle, $0.baseAddress, count, ms, &err, err.count) }
        switch status {
        case 0: return bytes
        case PP_RECV_TIMEOUT: return nil
        default: throw TransportError.receiveFailed(String(cString: err))
        }
    }

    public func close() {
        if let handle { table.close(handle) }
        handle = nil
    }

    deinit { close() }
}

extension LoadedPlugin {
    /// This plugin as a transport, or nil when it is of another kind.
    public var transport: TransportPlugin? {
        kind == .transport ? TransportPlugin(plugin: self) : nil
    }
}

extension PluginHost {
    public var transports: [TransportPlugin] { plugins.compactMap(\.transport) }

    /// The transport plugin named `name` ("tcp", "unix", ...), or an error listing those loaded.
    public func transport(named name: String) throws -> TransportPlugin {
        guard let found = plugin(named: name)?.transport else {
            throw PluginError.noTransport(name: name, available: transports.map(\.plugin.name))
        }
        return found
    }
}
