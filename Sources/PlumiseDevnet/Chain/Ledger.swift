import Foundation
import BigInt
import GRDB
import PlumiseChain

/// Balances, nonces, chain metadata and the epoch clock, read and written inside a database
/// transaction.
enum Ledger {
    static func key(_ address: Address) -> String { address.lowercased }

    static func balance(_ db: Database, _ address: Address) throws -> BigUInt {
        let text = try String.fetchOne(db, sql: "SELECT balance FROM account WHERE address = ?", arguments: [key(address)])
        return text.flatMap { BigUInt($0) } ?? 0
    }

    static func nonce(_ db: Database, _ address: Address) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT nonce FROM account WHERE address = ?", arguments: [key(address)]) ?? 0
    }

    static func setBalance(_ db: Database, _ address: Address, _ balance: BigUInt) throws {
        try db.execute(sql: """
            INSERT INTO account (address, balance, nonce) VALUES (?, ?, 0)
            ON CONFLICT(address) DO UPDATE SET balance = excluded.balance
            """, arguments: [key(address), String(balance)])
    }

    static func setNonce(_ db: Database, _ address: Address, _ nonce: Int) throws {
        try db.execute(sql: """
            INSERT INTO account (address, balance, nonce) VALUES (?, '0', ?)
            ON CONFLICT(address) DO UPDATE SET nonce = excluded.nonce
            """, arguments: [key(address), nonce])
    }

    /// Moves `amount` wei; throws a revert when `from` cannot pay.
    static func transfer(_ db: Database, from: Address, to: Address, amount: BigUInt) throws {
        guard amount > 0 else { return }
        let available = try balance(db, from)
        guard available >= amount else { throw Revert("insufficient balance: \(from) holds \(available) wei, needs \(amount)") }
        try setBalance(db, from, available - amount)
        try setBalance(db, to, try balance(db, to) + amount)
    }

    static func meta(_ db: Database, _ key: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    static func setMeta(_ db: Database, _ key: String, _ value: String) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }

    private static func intMeta(_ db: Database, _ key: String) throws -> Int {
        guard let text = try meta(db, key), let value = Int(text) else {
            throw DatabaseError(message: "chain database has no valid '\(key)'")
        }
        return value
    }

    /// The RewardPool epoch at `now`: the stored epoch plus the whole epochs since it started.
    static func currentEpoch(_ db: Database, now: Int) throws -> Int {
        let epoch = try intMeta(db, "epoch"), start = try intMeta(db, "epochStart"), seconds = try intMeta(db, "epochSeconds")
        return epoch + max(0, now - start) / max(seconds, 1)
    }

    /// Rolls the stored epoch forward to `now` with the length it was counted in, then counts
    /// on in `seconds`: restarting with another --epoch-seconds never moves epochs backwards.
    static func rebaseEpochs(_ db: Database, now: Int, seconds: Int) throws {
        let stored = try intMeta(db, "epoch"), start = try intMeta(db, "epochStart"), length = try intMeta(db, "epochSeconds")
        let epoch = try currentEpoch(db, now: now)
        try setMeta(db, "epoch", String(epoch))
        try setMeta(db, "epochStart", String(start + (epoch - stored) * max(length, 1)))
        try setMeta(db, "epochSeconds", String(max(seconds, 1)))
    }

    static func blockNumber(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT MAX(number) FROM block") ?? 0
    }
}

/// A failed call inside a mined transaction: the state changes are rolled back, the receipt
/// gets status 0 and this reason.
struct Revert: Error, CustomStringConvertible {
    let reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}
