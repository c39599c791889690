//! Certificates for TLS tests, made by the openssl CLI in a temp dir that
//! goes with the value: self-signed CAs and certificates they sign, all
//! with P-256 keys. `NAME.pem` and `NAME.key` for each, by name.

use std::path::Path;
use std::process::Command;

/// `extfile` lines of a server certificate for 127.0.0.1.
pub const SERVER_EXT: &str =
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
/// `extfile` lines of a client certificate.
pub const CLIENT_EXT: &str = "extendedKeyUsage=clientAuth\n";

const KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// A directory of CAs and certificates.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// An empty one.
    pub fn new() -> Pki {
        Pki {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `file` (`NAME.pem`, `NAME.key`) as a string.
    pub fn path(&self, file: &str) -> String {
        self.dir.path().join(file).to_string_lossy().into_owned()
    }

    /// A self-signed CA `name` with subject `subj` (`/O=Test/CN=ca`).
    pub fn ca(&self, name: &str, subj: &str) -> &Self {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        let rest = ["-keyout", &key, "-out", &pem, "-days", "30", "-subj", subj];
        self.openssl(&[&["req", "-x509"][..], &KEY, &rest].concat());
        self
    }

    /// A certificate `name` for `subj`, signed by CA `ca`, with `ext`
    /// (openssl `extfile` lines), valid for `days` (0: it expires a
    /// second after it is made).
    pub fn issue(&self, name: &str, ca: &str, subj: &str, ext: &str, days: u32) -> &Self {
        let (key, csr, pem, extf) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(self.dir.path().join(&extf), ext).expect("write the extfile");
        let rest = ["-keyout", &key, "-out", &csr, "-subj", subj];
        self.openssl(&[&["req"][..], &KEY, &rest].concat());
        let (ca_pem, ca_key, days) = (format!("{ca}.pem"), format!("{ca}.key"), days.to_string());
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            &days,
            "-out",
            &pem,
            "-extfile",
            &extf,
        ]);
        self
    }

    /// The subject of certificate `name` in RFC 2253 form
    /// (`CN=engine,O=Test`), as a peer's certificate is named.
    pub fn subject(&self, name: &str) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
            .arg(self.path(&format!("{name}.pem")))
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().trim_start_matches("subject=").to_string()
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
