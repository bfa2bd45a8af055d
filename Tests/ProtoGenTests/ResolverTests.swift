@testable import ProtoGen
import Testing

@Suite struct ResolverTests {
    /// The resolved type of field `field` of top-level message `message` in `path`.
    private func fieldType(_ files: [String: ProtoFile], _ path: String, _ message: String, _ field: String) -> String? {
        let decl = files[path]?.messages.first { $0.name == message }
        switch decl?.fields.first(where: { $0.name == field })?.type {
        case .message(let symbol)?, .enumeration(let symbol)?: return symbol.fullName
        default: return nil
        }
    }

    @Test func searchesInnermostScopeFirst() throws {
        let files = try resolved([
            "crm/t/v1/t.proto": proto3("""
                message Inner {}
                message Outer {
                  message Inner {}
                  Inner near = 1;
                  .crm.t.v1.Inner far = 2;
                  t.v1.Inner partial = 3;
                  Outer.Inner through_self = 4;
                }
                """),
        ])
        #expect(fieldType(files, "crm/t/v1/t.proto", "Outer", "near") == "crm.t.v1.Outer.Inner")
        #expect(fieldType(files, "crm/t/v1/t.proto", "Outer", "far") == "crm.t.v1.Inner")
        #expect(fieldType(files, "crm/t/v1/t.proto", "Outer", "partial") == "crm.t.v1.Inner")
        #expect(fieldType(files, "crm/t/v1/t.proto", "Outer", "through_self") == "crm.t.v1.Outer.Inner")
    }

    @Test func findsTypesInParentPackagesAndImports() throws {
        let files = try resolved([
            "crm/common.proto": proto3("message Money { int64 cents = 1; }\nenum Currency { CURRENCY_UNSPECIFIED = 0; }", package: "crm"),
            "crm/t/v1/t.proto": proto3("""
                import "crm/common.proto";
                message Price { Money amount = 1; crm.Currency currency = 2; }
                """),
        ])
        #expect(fieldType(files, "crm/t/v1/t.proto", "Price", "amount") == "crm.Money")
        #expect(fieldType(files, "crm/t/v1/t.proto", "Price", "currency") == "crm.Currency")
    }

    @Test func compoundNameCommitsToFirstMatchingScope() {
        // `Outer.Missing`: `Outer` exists in the inner scope, so protoc stops there and fails,
        // even though nothing else is called Missing.
        let error = generationError([
            "crm/t/v1/t.proto": proto3("""
                message Outer {
                  message Outer {}
                  Outer.Missing x = 1;
                }
                """),
        ])
        #expect(error?.line == 5)
        #expect(error?.message.contains("unknown type 'Outer.Missing'") == true)
    }

    @Test func publicImportsAreTransitive() throws {
        let files = try resolved([
            "crm/a.proto": proto3("message A {}", package: "crm"),
            "crm/b.proto": proto3("import public \"crm/a.proto\";", package: "crm"),
            "crm/c.proto": proto3("import \"crm/b.proto\";\nmessage C { A a = 1; }", package: "crm"),
        ])
        #expect(fieldType(files, "crm/c.proto", "C", "a") == "crm.A")
    }

    @Test func plainImportsAreNotTransitive() {
        let error = generationError([
            "crm/a.proto": proto3("message A {}", package: "crm"),
            "crm/b.proto": proto3("import \"crm/a.proto\";", package: "crm"),
            "crm/c.proto": proto3("import \"crm/b.proto\";\nmessage C { A a = 1; }", package: "crm"),
        ])
        #expect(error?.file == "proto/crm/c.proto")
        #expect(error?.line == 4)
        #expect(error?.message.contains("not imported") == true)
    }

    @Test func unknownTypeNamesFileAndLine() {
        let error = generationError(["crm/t/v1/t.proto": proto3("message M {\n  int32 a = 1;\n  Nope b = 2;\n}")])
        #expect(error?.description.hasPrefix("proto/crm/t/v1/t.proto:5:3: error: unknown type 'Nope'") == true)
    }

    @Test func recursiveMessagesAreRejected() {
        let direct = generationError(["crm/t/v1/t.proto": proto3("message Node {\n  Node next = 1;\n}")])
        #expect(direct?.line == 4)
        #expect(direct?.message.contains("recursive message type: crm.t.v1.Node.next → crm.t.v1.Node") == true)

        let indirect = generationError(["crm/t/v1/t.proto": proto3("""
            message A { B b = 1; }
            message B {
              optional C c = 1;
            }
            message C { A a = 1; }
            """)])
        #expect(indirect?.line == 3)
        #expect(indirect?.message.contains("crm.t.v1.A.b → crm.t.v1.B.c → crm.t.v1.C.a → crm.t.v1.A") == true)
    }

    @Test func recursionThroughRepeatedOrMapIsFine() throws {
        _ = try generate(sources: ["crm/t/v1/t.proto": proto3("""
            message Tree {
              repeated Tree children = 1;
              map<string, Tree> named = 2;
            }
            """)])
    }

    @Test(arguments: [
        (proto3("message M {\n  int32 a = 1;\n  int32 b = 1;\n}"), 5, "already used"),
        (proto3("message M {\n  int32 a = 1;\n  int64 a = 2;\n}"), 5, "already defined"),
        (proto3("message M {\n  int32 foo_bar = 1;\n  int64 fooBar = 2;\n}"), 5, "Swift property"),
        (proto3("message M {\n  reserved 2;\n  int32 a = 2;\n}"), 5, "reserved number"),
        (proto3("message M {\n  reserved \"a\";\n  int32 a = 1;\n}"), 5, "is reserved"),
        (proto3("message M {}\nmessage M {}"), 4, "already defined"),
        (proto3("message M {\n  map<string, int32> m = 1;\n}\nservice S {\n  rpc R(Other) returns (M);\n}"), 7, "unknown type 'Other'"),
        (proto3("message M {}\nservice S {\n  rpc R(M) returns (M);\n  rpc r(M) returns (M);\n}"), 6, "same Swift method name"),
        (proto3("enum E {\n  E_UNSPECIFIED = 0;\n  E_A_B = 1;\n  A_B = 2;\n}"), 6, "both become Swift case"),
    ])
    func rejectsInvalidDeclarations(source: String, line: Int, message: String) {
        let error = generationError(["crm/t/v1/t.proto": source])
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test func rejectsFilesOutsideTheModuleLayoutAndCrossModuleImports() {
        let outside = generationError(["other/x.proto": proto3("message X {}", package: "other")])
        #expect(outside?.message.contains("outside the module layout") == true)

        let crossModule = generationError([
            "crm/a.proto": proto3("message A {}", package: "crm"),
            "grpc/testing/t.proto": proto3("import \"crm/a.proto\";\nmessage T { crm.A a = 1; }", package: "grpc.testing"),
        ])
        #expect(crossModule?.file == "proto/grpc/testing/t.proto")
        #expect(crossModule?.line == 3)
        #expect(crossModule?.message.contains("cross-module") == true)

        let missing = generationError(["crm/a.proto": proto3("import \"crm/nope.proto\";", package: "crm")])
        #expect(missing?.line == 3)
        #expect(missing?.message.contains("not found") == true)
    }

    @Test func rejectsGeneratedNameCollisions() {
        let error = generationError(["crm/t/v1/t.proto": proto3("message SClient {}\nservice S {}")])
        #expect(error?.message.contains("Crm_T_V1_SClient") == true)
    }
}
