import XCTest
@testable import OSBuilder

final class TemplateTests: XCTestCase {
    func testParsesDirectivesQuotingAndOptions() throws {
        let text = """
            # comment
            description "two words" and more   # trailing comment
            agent service /usr/bin/kata-agent
            dir /proc /sys mode=0555
            file /etc/motd mode=0640 owner=1:2 content="hi \\"there\\"\\n"
            symlink /init /sbin/init
            device /dev/console c 5 1 mode=0600
            host-file /bin/busybox /bin/busybox mode=0755
            busybox-links /bin/busybox
            mask systemd-journald.service
            bootstrap suite=bookworm variant=minbase components=main,contrib exclude=/usr/share/doc/*
            package systemd kmod
            """
        let parsed = try TemplateParser.parse(text, file: "t.conf")
        XCTAssertEqual(parsed.description, "two words and more")
        XCTAssertEqual(parsed.agent, .service(path: "/usr/bin/kata-agent"))
        XCTAssertEqual(parsed.bootstrap, Template.Bootstrap(suite: "bookworm", variant: "minbase", components: ["main", "contrib"], exclude: ["/usr/share/doc/*"]))
        XCTAssertEqual(parsed.packages, ["systemd", "kmod"])
        XCTAssertEqual(parsed.actions, [
            .directory(path: "/proc", mode: 0o555, owner: nil),
            .directory(path: "/sys", mode: 0o555, owner: nil),
            .file(path: "/etc/motd", mode: 0o640, owner: Template.Owner(uid: 1, gid: 2), content: .inline("hi \"there\"\n")),
            .symlink(path: "/init", target: "/sbin/init", owner: nil),
            .device(path: "/dev/console", kind: .character, major: 5, minor: 1, mode: 0o600, owner: nil),
            .hostFile(source: "/bin/busybox", path: "/bin/busybox", mode: 0o755, owner: nil),
            .busyboxLinks(path: "/bin/busybox"),
            .mask(unit: "systemd-journald.service"),
        ])
        XCTAssertEqual(parsed.origins.map(\.line), [4, 4, 5, 6, 7, 8, 9, 10])
    }

    func testErrorsNameFileAndLine() {
        let cases = [
            "frobnicate /x": "unknown directive",
            "dir relative/path": "must be absolute",
            "dir /x mode=999": "bad mode",
            "file /x owner=root": "bad owner",
            "file /x content=\"unterminated": "unterminated quote",
            "dir /a/../etc": "must be absolute without ..",
            "file /x source=/etc/passwd": "relative to the template directory",
            "device /dev/x q 1 2": "kind must be c or b",
            "agent sometimes": "expected init",
        ]
        for (line, expected) in cases {
            XCTAssertThrowsError(try TemplateParser.parse("description ok\n\(line)", file: "bad.conf"), line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("bad.conf:2"), text)
                XCTAssertTrue(text.contains(expected), "\(line): \(text)")
            }
        }
    }

    func testShippedTemplatesLoad() throws {
        let library = TestSupport.templates
        XCTAssertEqual(try library.names(), ["busybox", "debian", "minimal", "modloader"])
        let minimal = try library.load("minimal")
        XCTAssertEqual(minimal.agent, .initDaemon)
        XCTAssertTrue(minimal.actions.contains(.symlink(path: "/init", target: "/sbin/init", owner: nil)))
        let busybox = try library.load("busybox")
        XCTAssertEqual(busybox.inherits, ["minimal"])
        XCTAssertEqual(Array(busybox.actions.prefix(minimal.actions.count)), minimal.actions, "parent's actions come first")
        XCTAssertEqual(busybox.hostPackages, ["busybox-static"])
        let debian = try library.load("debian")
        XCTAssertEqual(debian.agent, .service(path: "/usr/bin/kata-agent"))
        XCTAssertEqual(debian.owners, .preserve)
        XCTAssertNotNil(debian.bootstrap)
        XCTAssertTrue(debian.actions.contains(.mask(unit: "systemd-udevd.service")))
        XCTAssertEqual(try library.load("modloader").agent, Template.AgentPlacement.none)
    }

    /// Adding a template is adding a directory: no code involved.
    func testNewTemplateNeedsNoCode() throws {
        let root = try TestSupport.temporaryDirectory()
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(root)/base", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(root)/child", withIntermediateDirectories: true)
        XCTAssertTrue(fm.createFile(atPath: "\(root)/base/template.conf", contents: Data("description base\ndir /etc\nfile /etc/a content=1\n".utf8)))
        XCTAssertTrue(fm.createFile(atPath: "\(root)/child/template.conf", contents: Data("inherit base\nfile /etc/motd source=motd.txt\npackage ignored\n".utf8)))
        XCTAssertTrue(fm.createFile(atPath: "\(root)/child/motd.txt", contents: Data("hello\n".utf8)))
        let library = TemplateLibrary(root: root)
        XCTAssertEqual(try library.names(), ["base", "child"])
        let child = try library.load("child")
        XCTAssertEqual(child.description, "base", "inherited scalar")
        XCTAssertEqual(child.actions.count, 3)
        XCTAssertEqual(child.actions.last, .file(path: "/etc/motd", mode: 0o644, owner: nil, content: .source("\(root)/child/motd.txt")))
        XCTAssertTrue(fm.createFile(atPath: "\(root)/base/template.conf", contents: Data("inherit child\n".utf8)))
        XCTAssertThrowsError(try library.load("child")) { XCTAssertTrue("\($0)".contains("cycle"), "\($0)") }
        XCTAssertThrowsError(try library.load("nosuch")) { XCTAssertTrue("\($0)".contains("unknown template"), "\($0)") }
        XCTAssertThrowsError(try library.load("../etc")) { XCTAssertTrue("\($0)".contains("not a template name"), "\($0)") }
    }

    func testAttributesRoundTrip() throws {
        var attributes = TreeAttributes(owners: .preserve)
        attributes.ownerOverrides["/etc/shadow"] = Template.Owner(uid: 0, gid: 42)
        attributes.devices["/dev/null"] = TreeAttributes.Device(kind: .character, major: 1, minor: 3, mode: 0o666)
        XCTAssertEqual(try TreeAttributes.parse(attributes.serialized(), file: "a"), attributes)
        XCTAssertThrowsError(try TreeAttributes.parse("owner /x notanumber\n", file: "a"))
    }

    func testAptMirrorFromDeb822AndOneLineSources() throws {
        let root = try TestSupport.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: "\(root)/sources.list.d", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(root)/sources.list.d/debian.sources", contents: Data("""
            Types: deb
            URIs: http://mirror.example/debian
            Suites: bookworm bookworm-updates
            Components: main

            Types: deb
            URIs: http://security.example/debian-security
            Suites: bookworm-security
            Components: main
            """.utf8))
        XCTAssertEqual(Bootstrapper.aptMirror(suite: "bookworm", sourcesRoot: root), "http://mirror.example/debian")
        XCTAssertEqual(Bootstrapper.aptMirror(suite: "bookworm-security", sourcesRoot: root), "http://security.example/debian-security")
        XCTAssertNil(Bootstrapper.aptMirror(suite: "trixie", sourcesRoot: root))
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(root)/sources.list", contents: Data("deb [arch=amd64] http://old.example/debian trixie main\n".utf8)))
        XCTAssertEqual(Bootstrapper.aptMirror(suite: "trixie", sourcesRoot: root), "http://old.example/debian")
    }
}
