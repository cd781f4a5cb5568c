#pragma once
// Certificates for the TLS tests, made at test time with the `openssl` command: no private key is committed that
// could be mistaken for a real one. One directory per test process, made on first use and reused by every case.
//
//   ca.pem / ca.key           a test CA ("asynchat-cpp test CA")
//   server.pem / server.key   a leaf for localhost, 127.0.0.1 and ::1, signed by that CA
//   other_ca.pem              a second CA that signed nothing here: verifying server.pem against it must fail
//   other.pem / other.key     a self-signed leaf for localhost (a certificate no CA file here vouches for)
//   wronghost.pem / .key      a leaf signed by the test CA for "wrong.example" only (hostname mismatch)
//
// available() is false when the openssl command is missing or fails; a TLS test then skips with that message.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <unistd.h>

namespace test_support {

struct test_certificates {
    std::filesystem::path dir;
    std::filesystem::path ca_cert() const { return dir / "ca.pem"; }
    std::filesystem::path server_cert() const { return dir / "server.pem"; }
    std::filesystem::path server_key() const { return dir / "server.key"; }
    std::filesystem::path other_ca_cert() const { return dir / "other_ca.pem"; }
    std::filesystem::path self_signed_cert() const { return dir / "other.pem"; }
    std::filesystem::path self_signed_key() const { return dir / "other.key"; }
    std::filesystem::path wrong_host_cert() const { return dir / "wronghost.pem"; }
    std::filesystem::path wrong_host_key() const { return dir / "wronghost.key"; }
};

namespace detail {

inline bool run_quiet(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Written here, not with a shell redirect: run_quiet's own ">/dev/null" would take the redirect's place and
// leave the file empty (the certificates then had no subjectAltName at all).
inline bool write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    return static_cast<bool>(out.flush());
}

inline std::optional<test_certificates> make_test_certificates() {
    if (!run_quiet("command -v openssl")) return std::nullopt;
    test_certificates c{std::filesystem::temp_directory_path() /
                        ("asynchat-test-pki-" + std::to_string(::getpid()))};
    std::filesystem::remove_all(c.dir);
    std::filesystem::create_directories(c.dir);
    const std::string d = "'" + c.dir.string() + "'";
    // EC P-256 keys: quick to make, and every client here speaks them.
    const std::string key = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ";
    const std::string ca_ext = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
    const bool ok =
        run_quiet(key + d + "/ca.key") &&
        run_quiet("openssl req -x509 -new -key " + d + "/ca.key -days 2 -subj '/CN=asynchat-cpp test CA' " + ca_ext +
                  " -out " + d + "/ca.pem") &&
        run_quiet(key + d + "/other_ca.key") &&
        run_quiet("openssl req -x509 -new -key " + d + "/other_ca.key -days 2 -subj '/CN=asynchat-cpp other CA' " +
                  ca_ext + " -out " + d + "/other_ca.pem") &&
        run_quiet(key + d + "/server.key") &&
        run_quiet("openssl req -new -key " + d + "/server.key -subj '/CN=localhost' -out " + d + "/server.csr") &&
        write_file(c.dir / "server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n") &&
        run_quiet("openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
                  "/ca.key -CAcreateserial -days 2 -extfile " + d + "/server.ext -out " + d + "/server.pem") &&
        run_quiet(key + d + "/wronghost.key") &&
        run_quiet("openssl req -new -key " + d + "/wronghost.key -subj '/CN=wrong.example' -out " + d +
                  "/wronghost.csr") &&
        write_file(c.dir / "wronghost.ext", "subjectAltName=DNS:wrong.example\n") &&
        run_quiet("openssl x509 -req -in " + d + "/wronghost.csr -CA " + d + "/ca.pem -CAkey " + d +
                  "/ca.key -CAcreateserial -days 2 -extfile " + d + "/wronghost.ext -out " + d + "/wronghost.pem") &&
        run_quiet(key + d + "/other.key") &&
        run_quiet("openssl req -x509 -new -key " + d + "/other.key -days 2 -subj '/CN=localhost' -addext "
                  "subjectAltName=DNS:localhost,IP:127.0.0.1 -out " + d + "/other.pem");
    if (!ok) return std::nullopt;
    return c;
}

} // namespace detail

// The process's certificates (made once), or nothing when openssl cannot make them.
inline const std::optional<test_certificates>& certificates() {
    static const std::optional<test_certificates> made = [] {
        auto c = detail::make_test_certificates();
        if (c) {
            // Removed when the test process exits normally.
            static const std::filesystem::path to_remove = c->dir;
            std::atexit([] {
                std::error_code ec;
                std::filesystem::remove_all(to_remove, ec);
            });
        }
        return c;
    }();
    return made;
}

} // namespace test_support
