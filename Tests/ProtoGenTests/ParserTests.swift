@testable import ProtoGen
import Testing

@Suite struct ParserTests {
    private func parse(_ source: String, path: String = "crm/t/v1/t.proto") throws(ProtoGenError) -> ProtoFile {
        try Parser.parse(source, path: path, displayPath: "proto/" + path)
    }

    @Test func parsesDeclarations() throws {
        let file = try parse("""
            syntax = "proto3";
            package crm.t.v1;
            import "crm/t/v1/other.proto";
            import public "crm/t/v1/public.proto";
            import weak "crm/t/v1/weak.proto";
            message A {
              reserved 5, 10 to 12, 100 to max;
              reserved "gone";
              repeated string tags = 1;
              optional int64 count = 2 [deprecated = true, json_name = "n"];
              map<string, B> by_name = 3;
              .crm.t.v1.B qualified = 4;
              message Nested { enum E { E_UNSPECIFIED = 0; } }
              ;
            }
            message B {}
            service S {
              rpc U(A) returns (B);
              rpc SS(A) returns (stream B) {}
              rpc CS(stream A) returns (B) { option deprecated = true; };
              rpc Bi(stream A) returns (stream B);
            }
            """)
        #expect(file.package == "crm.t.v1")
        #expect(file.imports.map(\.path) == ["crm/t/v1/other.proto", "crm/t/v1/public.proto", "crm/t/v1/weak.proto"])
        #expect(file.imports.map(\.isPublic) == [false, true, false])
        let a = file.messages[0]
        #expect(a.fields.map(\.name) == ["tags", "count", "by_name", "qualified"])
        #expect(a.fields.map(\.label) == [.repeated, .optional, .singular, .singular])
        #expect(a.reserved.contains(11) && a.reserved.contains(536_870_000) && !a.reserved.contains(6))
        #expect(a.reserved.names == ["gone"])
        guard case .named(".crm.t.v1.B") = a.fields[3].type else {
            Issue.record("fully qualified type name not kept")
            return
        }
        #expect(a.messages[0].enums[0].name == "E")
        let rpcs = file.services[0].rpcs
        #expect(rpcs.map(\.requestStreaming) == [false, false, true, true])
        #expect(rpcs.map(\.responseStreaming) == [false, true, false, true])
    }

    @Test func skipsOptionsOfEveryShape() throws {
        let file = try parse("""
            syntax = "proto3";
            option java_package = "x.y";
            option (custom.opt).field = { a: 1; nested { b: "}" } list: [1, 2] };
            package crm.t.v1;
            message M {
              option (m) = { x: ";" };
              int32 a = 1 [(f) = { y: 2 }, deprecated = true];
            }
            enum E {
              option allow_alias = true;
              E_UNSPECIFIED = 0;
              E_ONE = 1 [deprecated = true];
              E_UNO = 1;
            }
            """)
        #expect(file.messages[0].fields.count == 1)
        #expect(file.enums[0].values.map(\.name) == ["E_UNSPECIFIED", "E_ONE", "E_UNO"])
    }

    @Test func carriesDocComments() throws {
        let file = try parse("""
            // License header, detached by the blank line below.

            syntax = "proto3";
            package crm.t.v1;

            // Leading comment
            // of two lines.
            message M {
              /* Block
               * comment. */
              int32 a = 1;
              int32 b = 2;  // Trailing comment.

              // Detached, not attached to c.

              int32 c = 3;
            }
            """)
        let message = file.messages[0]
        #expect(message.comment == [" Leading comment", " of two lines."])
        #expect(message.fields[0].comment == [" Block", " comment. "])
        #expect(message.fields[1].comment == [" Trailing comment."])
        #expect(message.fields[2].comment.isEmpty)
    }

    @Test func parsesIntegerForms() throws {
        let file = try parse(proto3("enum E { E_ZERO = 0; E_HEX = 0x1F; E_OCT = 017; E_NEG = -5; }"))
        #expect(file.enums[0].values.map(\.number) == [0, 31, 15, -5])
    }

    @Test(arguments: [
        ("syntax = \"proto2\";\nmessage M {}", 1, "not supported"),
        ("package a;\nmessage M {}", 1, "missing 'syntax"),
        ("edition = \"2023\";", 1, "missing 'syntax"),
        (proto3("message M {\n  oneof choice { int32 a = 1; }\n}"), 4, "'oneof' is not supported"),
        (proto3("message M {\n  required int32 a = 1;\n}"), 4, "proto2"),
        (proto3("message M {\n  extensions 100 to 200;\n}"), 4, "extensions"),
        (proto3("extend Foo {\n  int32 a = 1;\n}"), 3, "extensions"),
        (proto3("message M {\n  int32 a = 0;\n}"), 4, "out of range"),
        (proto3("message M {\n  int32 a = 19001;\n}"), 4, "reserved for the protobuf implementation"),
        (proto3("message M {\n  map<double, int32> a = 1;\n}"), 4, "map key"),
        (proto3("message M {\n  repeated map<string, int32> a = 1;\n}"), 4, "map fields cannot be"),
        (proto3("enum E {\n  E_ONE = 1;\n}"), 4, "must be 0"),
        (proto3("message M {\n  int32 a = 1\n}"), 5, "expected ';'"),
        (proto3("message M {\n  string s = 1; /* never closed\n}"), 4, "unterminated /* comment"),
        (proto3("service S {\n  rpc R(int32) returns (M);\n}"), 4, "must be a message type"),
        (proto3("message M {\n  int32 a = 1;\n"), 3, "missing its '}'"),
    ])
    func rejectsUnsupportedSyntaxWithLocation(source: String, line: Int, message: String) {
        do {
            _ = try parse(source)
            Issue.record("expected an error containing \(message)")
        } catch {
            #expect(error.file == "proto/crm/t/v1/t.proto")
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.description.hasPrefix("proto/crm/t/v1/t.proto:\(line):"))
        }
    }
}

extension ParserTests {
    @Test func acceptsByteOrderMarkAndCRLF() throws {
        let source = "\u{FEFF}syntax = \"proto3\";\r\npackage crm.t.v1;\r\n/* One\r\n * two */\r\nmessage M {}\r\n"
        let file = try Parser.parse(source, path: "crm/t/v1/t.proto", displayPath: "proto/crm/t/v1/t.proto")
        #expect(file.messages[0].comment == [" One", " two "])
        #expect(file.messages[0].location.line == 5)
    }
}
