//! File-transfer tests: paths, refusals, atomic placement, hashes and free space, over the wire.

use std::io::Write;
use std::time::Duration;

use ::bson::Bson;
use sha1::{Digest, Sha1};

use super::*;
use crate::halibut::connection::{Connection, Limits};
use crate::halibut::message::{Envelope, RequestMessage, ResponseMessage};
use crate::instance::ProxySettings;

const BOUND: Duration = Duration::from_secs(30);

struct Fixture {
    _dir: tempfile::TempDir,
    base: PathBuf,
    ctx: AgentContext,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let home = base.join("home");
        for d in [
            &home,
            &base.join("apps"),
            &base.join("spool"),
            &base.join("outside"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        let ctx = AgentContext {
            instance: "Tentacle".into(),
            config_path: home.join("tentacle.toml"),
            home: home.clone(),
            application_directory: base.join("apps"),
            work_dir: home.join("Work"),
            temp_dir: base.join("spool"),
            executable: PathBuf::from("tentacle"),
            proxy: ProxySettings::default(),
            tentacle_version: crate::version::DEFAULT_REPORTED_VERSION.into(),
        };
        Fixture {
            _dir: dir,
            base,
            ctx,
        }
    }

    fn service(&self) -> FileTransferService {
        FileTransferService::new(self.ctx.clone(), default_roots(&self.ctx))
    }

    fn home(&self) -> PathBuf {
        self.ctx.home.clone()
    }

    fn outside(&self) -> PathBuf {
        self.base.join("outside")
    }

    /// Spooled streams are deleted on a blocking thread after the call, so allow it a moment.
    fn spool_is_empty(&self) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let empty = std::fs::read_dir(&self.ctx.temp_dir)
                .unwrap()
                .next()
                .is_none();
            if empty || std::time::Instant::now() > deadline {
                return empty;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn put(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    File::create(path).unwrap().write_all(bytes).unwrap();
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// Deterministic, incompressible-looking bytes.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn limits(spool: &Path) -> Limits {
    Limits {
        temp_dir: spool.to_path_buf(),
        ..Limits::default()
    }
}

/// Sends `envelope` with `streams` through a real Halibut connection and reads it back, so the
/// DataStreams arrive spooled in `spool` exactly as the agent receives them.
async fn over_the_wire(
    envelope: Envelope,
    streams: Vec<OutgoingStream>,
    spool: &Path,
) -> (Envelope, Vec<ReceivedStream>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let mut tx = Connection::new(a, limits(spool));
    let mut rx = Connection::new(b, limits(spool));
    let (sent, got) = tokio::time::timeout(BOUND, async {
        tokio::join!(
            tx.send_message(&envelope, streams),
            rx.read_message(BOUND, BOUND)
        )
    })
    .await
    .unwrap();
    sent.unwrap();
    got.unwrap().unwrap()
}

async fn upload_request(
    fx: &Fixture,
    remote: &str,
    bytes: &[u8],
) -> (Vec<Bson>, Vec<ReceivedStream>) {
    let (out, placeholder) = OutgoingStream::bytes(bytes.to_vec());
    let req = RequestMessage::new(
        SERVICE_NAME,
        "UploadFile",
        vec![Bson::String(remote.into()), placeholder.to_bson_typed()],
        1,
    );
    match over_the_wire(Envelope::Request(req), vec![out], &fx.ctx.temp_dir).await {
        (Envelope::Request(r), streams) => {
            assert_eq!(streams.len(), 1);
            (r.params, streams)
        }
        other => panic!("expected a request, got {other:?}"),
    }
}

async fn call(
    svc: &FileTransferService,
    method: &str,
    params: Vec<Bson>,
    streams: Vec<ReceivedStream>,
) -> Result<Reply, ServiceError> {
    tokio::time::timeout(BOUND, svc.call(method, params, streams))
        .await
        .expect("the call should finish in time")
}

async fn upload(
    fx: &Fixture,
    svc: &FileTransferService,
    remote: &str,
    bytes: &[u8],
) -> Result<::bson::Document, ServiceError> {
    let (params, streams) = upload_request(fx, remote, bytes).await;
    let reply = call(svc, "UploadFile", params, streams).await?;
    assert!(reply.streams.is_empty());
    match reply.result {
        Some(Bson::Document(d)) => Ok(d),
        other => panic!("UploadFile returned {other:?}"),
    }
}

/// DownloadFile, with the reply sent back through a connection: `None` for a null result.
async fn download(
    fx: &Fixture,
    svc: &FileTransferService,
    remote: &str,
) -> Result<Option<Vec<u8>>, ServiceError> {
    let reply = call(
        svc,
        "DownloadFile",
        vec![Bson::String(remote.into())],
        Vec::new(),
    )
    .await?;
    let Some(result) = reply.result else {
        panic!("DownloadFile must return a value");
    };
    if result == Bson::Null {
        assert!(reply.streams.is_empty());
        return Ok(None);
    }
    let Bson::Document(d) = &result else {
        panic!("DownloadFile returned {result:?}");
    };
    assert_eq!(d.get_str("$type").unwrap(), "Halibut.DataStream, Halibut");
    assert!(matches!(d.get("length"), Some(Bson::Int64(_))));
    let resp = ResponseMessage::ok("r", Some(result.clone()));
    let (_, mut streams) =
        over_the_wire(Envelope::Response(resp), reply.streams, &fx.ctx.temp_dir).await;
    assert_eq!(streams.len(), 1);
    let s = streams.remove(0);
    Ok(Some(s.read_to_vec(u64::MAX).unwrap()))
}

fn failed(r: Result<impl std::fmt::Debug, ServiceError>) -> String {
    match r {
        Err(ServiceError::Failed(m)) => m,
        other => panic!("expected ServiceError::Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn upload_then_download_round_trips_with_dotnet_hash_and_length() {
    let fx = Fixture::new();
    let svc = fx.service();
    let bytes = payload(300 * 1024 + 7);
    let target = fx.home().join("Files").join("calamari.nupkg");
    put(&target, b"an older version, replaced atomically");

    let d = upload(&fx, &svc, "Files/calamari.nupkg", &bytes)
        .await
        .unwrap();
    let keys: Vec<&str> = d.keys().map(String::as_str).collect();
    assert_eq!(keys, ["$type", "FullPath", "Hash", "Length"]);
    assert_eq!(d.get_str("$type").unwrap(), UPLOAD_RESULT_TYPE);
    assert_eq!(d.get_str("FullPath").unwrap(), target.to_str().unwrap());
    let expected_hash = hex::encode(Sha1::digest(&bytes));
    assert_eq!(expected_hash.len(), 40);
    assert_eq!(d.get_str("Hash").unwrap(), expected_hash);
    assert_eq!(d.get("Length"), Some(&Bson::Int64(bytes.len() as i64)));
    assert_eq!(std::fs::read(&target).unwrap(), bytes);
    // Nothing left beside the target, and the spooled stream is gone.
    assert_eq!(names_in(target.parent().unwrap()), ["calamari.nupkg"]);
    assert!(fx.spool_is_empty());

    let back = download(&fx, &svc, "Files/calamari.nupkg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Sha1::digest(&back), Sha1::digest(&bytes));
    assert_eq!(back, bytes);
    // The absolute path the upload reported works as well.
    let again = download(&fx, &svc, target.to_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.len(), bytes.len());
}

#[tokio::test]
async fn upload_creates_parent_folders_and_accepts_backslashes() {
    let fx = Fixture::new();
    let svc = fx.service();
    let d = upload(&fx, &svc, r"Files\a\b\c\tool.zip", b"zip")
        .await
        .unwrap();
    let target = fx.home().join("Files/a/b/c/tool.zip");
    assert_eq!(d.get_str("FullPath").unwrap(), target.to_str().unwrap());
    assert_eq!(std::fs::read(&target).unwrap(), b"zip");
    // An empty stream is a valid, empty file.
    let d = upload(&fx, &svc, "apps-empty.txt", b"").await.unwrap();
    assert_eq!(d.get_str("Hash").unwrap(), hex::encode(Sha1::digest(b"")));
    assert_eq!(d.get("Length"), Some(&Bson::Int64(0)));
    // The applications folder is a root too.
    let inapps = fx.ctx.application_directory.join("MyApp/1.0/web.config");
    upload(&fx, &svc, inapps.to_str().unwrap(), b"<x/>")
        .await
        .unwrap();
    assert_eq!(std::fs::read(&inapps).unwrap(), b"<x/>");
}

#[tokio::test]
async fn a_null_datastream_writes_nothing() {
    let fx = Fixture::new();
    let svc = fx.service();
    let reply = call(
        &svc,
        "UploadFile",
        vec![Bson::String("Files/none.bin".into()), Bson::Null],
        Vec::new(),
    )
    .await
    .unwrap();
    let Some(Bson::Document(d)) = reply.result else {
        panic!("no result");
    };
    assert_eq!(d.get("Hash"), Some(&Bson::Null));
    assert_eq!(d.get("Length"), Some(&Bson::Int64(0)));
    assert!(!fx.home().join("Files").exists());
}

#[tokio::test]
async fn download_of_a_missing_file_or_a_folder_is_null() {
    let fx = Fixture::new();
    let svc = fx.service();
    assert_eq!(download(&fx, &svc, "Files/nope.bin").await.unwrap(), None);
    assert_eq!(download(&fx, &svc, "no/such/folder/x").await.unwrap(), None);
    std::fs::create_dir_all(fx.home().join("Work")).unwrap();
    assert_eq!(download(&fx, &svc, "Work").await.unwrap(), None);
}

#[tokio::test]
async fn traversal_and_absolute_paths_outside_the_roots_are_refused() {
    let fx = Fixture::new();
    let svc = fx.service();
    let before = names_in(&fx.base);
    for remote in [
        "../../etc/passwd",
        r"..\..\etc\passwd",
        "Files/../../outside/x.txt",
        "../outside/x.txt",
        "./../spool/x.txt",
    ] {
        let m = failed(upload(&fx, &svc, remote, b"pwned").await);
        assert!(m.contains(remote), "{m}");
        assert!(m.contains(fx.home().to_str().unwrap()), "{m}");
        assert!(
            m.contains(fx.ctx.application_directory.to_str().unwrap()),
            "{m}"
        );
        assert!(m.contains("outside the folders"), "{m}");
    }
    let abs = fx.outside().join("abs.txt");
    let m = failed(upload(&fx, &svc, abs.to_str().unwrap(), b"pwned").await);
    assert!(m.contains(abs.to_str().unwrap()), "{m}");
    // Nothing was written anywhere, and the spooled streams were cleaned up.
    assert_eq!(names_in(&fx.base), before);
    assert!(names_in(&fx.outside()).is_empty());
    assert!(names_in(&fx.home()).is_empty());
    assert!(fx.spool_is_empty());
    assert!(!fx.base.parent().unwrap().join("etc/passwd").exists());

    let m = failed(download(&fx, &svc, "/etc/passwd").await);
    assert!(
        m.contains("/etc/passwd") && m.contains("outside the folders"),
        "{m}"
    );
    let m = failed(download(&fx, &svc, "../../../../../../etc/passwd").await);
    assert!(m.contains("outside the folders"), "{m}");
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_pointing_out_of_the_roots_are_refused() {
    use std::os::unix::fs::symlink;
    let fx = Fixture::new();
    let svc = fx.service();
    put(&fx.outside().join("secret.txt"), b"secret");
    symlink(fx.outside(), fx.home().join("link")).unwrap();
    symlink(fx.outside().join("secret.txt"), fx.home().join("evil.txt")).unwrap();
    symlink(fx.outside().join("gone"), fx.home().join("dangling")).unwrap();

    for remote in ["link/new.txt", "link/secret.txt", "evil.txt"] {
        let m = failed(upload(&fx, &svc, remote, b"pwned").await);
        assert!(
            m.contains(remote) && m.contains("outside the folders"),
            "{m}"
        );
        let m = failed(download(&fx, &svc, remote).await);
        assert!(
            m.contains(remote) && m.contains("outside the folders"),
            "{m}"
        );
    }
    let m = failed(upload(&fx, &svc, "dangling", b"pwned").await);
    assert!(m.contains("cannot resolve"), "{m}");
    assert_eq!(names_in(&fx.outside()), ["secret.txt"]);
    assert_eq!(
        std::fs::read(fx.outside().join("secret.txt")).unwrap(),
        b"secret"
    );

    // A link that stays inside the roots is followed.
    std::fs::create_dir_all(fx.ctx.application_directory.join("real")).unwrap();
    symlink(
        fx.ctx.application_directory.join("real"),
        fx.home().join("inner"),
    )
    .unwrap();
    upload(&fx, &svc, "inner/ok.txt", b"ok").await.unwrap();
    assert_eq!(
        std::fs::read(fx.ctx.application_directory.join("real/ok.txt")).unwrap(),
        b"ok"
    );
}

#[tokio::test]
async fn the_configuration_and_certificates_are_never_transferred() {
    let fx = Fixture::new();
    let svc = fx.service();
    put(&fx.ctx.config_path, b"config");
    put(&fx.home().join("certificates/ABC.pem"), b"key");
    let m = failed(upload(&fx, &svc, "tentacle.toml", b"pwned").await);
    assert!(m.contains("configuration or certificate store"), "{m}");
    let m = failed(download(&fx, &svc, "certificates/ABC.pem").await);
    assert!(m.contains("configuration or certificate store"), "{m}");
    let m = failed(upload(&fx, &svc, "certificates/new.pem", b"pwned").await);
    assert!(m.contains("configuration or certificate store"), "{m}");
    assert_eq!(std::fs::read(&fx.ctx.config_path).unwrap(), b"config");
    assert_eq!(names_in(&fx.home().join("certificates")), ["ABC.pem"]);
    // The root itself is not a file.
    let m = failed(upload(&fx, &svc, ".", b"x").await);
    assert!(m.contains("allowed folder itself"), "{m}");
}

#[tokio::test]
async fn bad_arguments_and_missing_streams() {
    let fx = Fixture::new();
    let svc = fx.service();
    assert!(matches!(
        call(
            &svc,
            "UploadFile",
            vec![Bson::String("x".into())],
            Vec::new()
        )
        .await,
        Err(ServiceError::BadArguments(_))
    ));
    assert!(matches!(
        call(&svc, "DownloadFile", vec![Bson::Int32(3)], Vec::new()).await,
        Err(ServiceError::BadArguments(_))
    ));
    assert!(matches!(
        call(&svc, "DeleteFile", Vec::new(), Vec::new()).await,
        Err(ServiceError::MethodNotFound)
    ));
    let (_, placeholder) = OutgoingStream::bytes(b"abc".to_vec());
    let m = failed(
        call(
            &svc,
            "uploadfile",
            vec![Bson::String("x".into()), placeholder.to_bson_typed()],
            Vec::new(),
        )
        .await,
    );
    assert!(m.contains("did not arrive"), "{m}");
    let m = failed(call(&svc, "DownloadFile", vec![Bson::Null], Vec::new()).await);
    assert!(m.contains("null"), "{m}");
    let m = failed(
        call(
            &svc,
            "DownloadFile",
            vec![Bson::String(String::new())],
            Vec::new(),
        )
        .await,
    );
    assert!(m.contains("empty"), "{m}");
}

/// A tiny tmpfs, unmounted on drop.
struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(at: &Path, size: &str) -> Option<TinyFs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| TinyFs(at.to_path_buf()))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut c = std::process::Command::new("umount");
            if lazy {
                c.arg("-l");
            }
            c.arg(&self.0)
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if !umount(false) {
            umount(true);
        }
    }
}

#[tokio::test]
async fn a_full_file_system_leaves_no_partial_or_temp_file() {
    let fx = Fixture::new();
    let mount_point = fx.home().join("full");
    let Some(_fs) = TinyFs::mount(&mount_point, "64k") else {
        eprintln!(
            "SKIPPED a_full_file_system_leaves_no_partial_or_temp_file: cannot mount a tmpfs here (needs root and mount permission)"
        );
        return;
    };
    let target = mount_point.join("pkg.bin");
    put(&target, b"previous");
    let bytes = payload(256 * 1024);

    // With Tentacle's free-space check, the upload is refused before anything is written.
    let m = failed(upload(&fx, &fx.service(), "full/pkg.bin", &bytes).await);
    assert!(
        m.contains("free disk space") && m.contains(mount_point.to_str().unwrap()),
        "{m}"
    );
    assert_eq!(names_in(&mount_point), ["pkg.bin"]);

    // Without it, the write itself runs out of space part-way through.
    let svc = fx.service().without_free_space_check();
    let m = failed(upload(&fx, &svc, "full/pkg.bin", &bytes).await);
    assert!(m.contains(target.to_str().unwrap()), "{m}");
    assert!(m.contains("No space left on device"), "{m}");
    assert_eq!(names_in(&mount_point), ["pkg.bin"]);
    assert_eq!(std::fs::read(&target).unwrap(), b"previous");
    assert!(fx.spool_is_empty());

    // A new file that does not fit leaves nothing at all.
    let m = failed(upload(&fx, &svc, "full/new/other.bin", &bytes).await);
    assert!(m.contains("No space left on device"), "{m}");
    assert!(!mount_point.join("new").exists());
}
