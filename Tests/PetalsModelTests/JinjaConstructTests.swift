import Foundation
@testable import PetalsModel
import XCTest

/// One construct of the Jinja subset per template, each rendered by jinja2 in Hugging Face's
/// environment (renderings.json "constructs"), plus what the subset refuses and how.
final class JinjaConstructTests: XCTestCase {
    /// A JSON value with dict keys in order: {"dict": [[k, v]...]}, {"list": [...]}, {"value": x}.
    private enum OrderedJSON: Decodable {
        case value(JinjaValue)

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            if var pairs = try? container.nestedUnkeyedContainer(forKey: .dict) {
                var dict = JinjaDict()
                while !pairs.isAtEnd {
                    var pair = try pairs.nestedUnkeyedContainer()
                    let key = try pair.decode(String.self)
                    guard case .value(let v) = try pair.decode(OrderedJSON.self) else { continue }
                    dict[key] = v
                }
                self = .value(.dict(dict))
            } else if let items = try? container.decode([OrderedJSON].self, forKey: .list) {
                self = .value(.list(items.map { if case .value(let v) = $0 { return v } else { return .none } }))
            } else if (try? container.decodeNil(forKey: .value)) == true {
                self = .value(.none)
            } else if let b = try? container.decode(Bool.self, forKey: .value) {
                self = .value(.bool(b))
            } else if let n = try? container.decode(Int.self, forKey: .value) {
                self = .value(.int(n))
            } else if let x = try? container.decode(Double.self, forKey: .value) {
                self = .value(.double(x))
            } else {
                self = .value(.string(try container.decode(String.self, forKey: .value)))
            }
        }

        enum Key: String, CodingKey { case dict, list, value }
        var jinja: JinjaValue { if case .value(let v) = self { return v } else { return .none } }
    }

    private struct Construct: Decodable {
        let template: String
        let variables: OrderedJSON
        let output: String?
        let error: String?
    }

    private struct Renderings: Decodable {
        let now: String
        let constructs: [Construct]
    }

    func testEachConstructRendersAsJinja2Does() throws {
        let url = ChatTemplateFixtureTests.directory.appendingPathComponent("renderings.json")
        let renderings = try JSONDecoder().decode(Renderings.self, from: try Data(contentsOf: url))
        let now = try XCTUnwrap(ISO8601DateFormatter().date(from: renderings.now))
        XCTAssertGreaterThan(renderings.constructs.count, 30)
        for construct in renderings.constructs {
            guard case .dict(let dict) = construct.variables.jinja else { return XCTFail("variables are not a dict") }
            let variables = Dictionary(uniqueKeysWithValues: dict.pairs)
            do {
                let rendered = try JinjaTemplate(construct.template).render(variables, now: { now })
                XCTAssertEqual(rendered.string, construct.output, construct.template)
            } catch {
                let expected = try XCTUnwrap(construct.error, "\(construct.template): \(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(construct.template): \(error), expected \(expected)")
            }
        }
    }

    func testUnsupportedConstructsAreRefusedByName() {
        let cases = [
            ("{% include 'other.jinja' %}", "the {% include %} statement"),
            ("{{ x | wordwrap(3) }}", "the filter 'wordwrap'"),
            ("{% if x is fancy %}{% endif %}", "the test 'fancy'"),
            ("{% for x in xs recursive %}{% endfor %}", "recursive loops"),
            ("{% call m() %}{% endcall %}", "the {% call %} statement"),
        ]
        for (source, construct) in cases {
            XCTAssertThrowsError(try ChatTemplate(template: source), source) { error in
                XCTAssertTrue("\(error)".contains(construct), "\(error)")
                XCTAssertTrue("\(error)".contains("line 1"), "\(error)")
            }
        }
    }

    func testSyntaxErrorsNameTheLine() {
        XCTAssertThrowsError(try ChatTemplate(template: "ok\n{% if x %}\nnever closed")) {
            XCTAssertTrue("\($0)".contains("{% endif %}"), "\($0)")
        }
        XCTAssertThrowsError(try ChatTemplate(template: "a\nb\n{{ x + }}")) {
            XCTAssertTrue("\($0)".contains("line 3"), "\($0)")
        }
        XCTAssertThrowsError(try ChatTemplate(template: "{{ 'unterminated }}")) {
            XCTAssertTrue("\($0)".contains("never closed"), "\($0)")
        }
    }

    func testRunawayTemplatesStopWithAnError() {
        let loop = try? JinjaTemplate("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(10) %}{% endfor %}{% endfor %}{% endfor %}")
        XCTAssertThrowsError(try loop?.render([:], now: { Date() })) { XCTAssertTrue("\($0)".contains("loops more than"), "\($0)") }
        let recursion = try? JinjaTemplate("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        XCTAssertThrowsError(try recursion?.render([:], now: { Date() })) { XCTAssertTrue("\($0)".contains("recurses deeper"), "\($0)") }
    }

    func testContentRangesFollowConcatenationAndTrimming() throws {
        let template = try JinjaTemplate("{{ '<m>' + (c | trim) + '</m>' }}{{ c.strip()[1:] }}")
        let rendered = try template.render(["c": .string(JinjaText("  ab<x>  ", isContent: true))], now: { Date() })
        XCTAssertEqual(rendered.string, "<m>ab<x></m>b<x>")
        XCTAssertEqual(rendered.contentRanges, [3..<8, 12..<16])
    }
}
