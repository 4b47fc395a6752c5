//! Unix domain sockets: abstract names belong to a network namespace, pathnames to the file
//! system, which network namespaces do not divide.

use super::NET_DEADLINE;
use crate::scratch::tmpfs;
use nix::errno::Errno;
use nsconform_harness::{expect_eq, expect_errno, spawn, At, Check, Kind, Need, Outcome, Spawn};
use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

pub const CHECKS: &[Check] = &[Check::new(
    "net.unix-abstract-names-per-namespace",
    "Abstract unix socket names are per network namespace: two namespaces bind the same name, and a third gets ECONNREFUSED connecting to it; a pathname socket is reached from another network namespace through a shared directory",
    "unix(7) abstract namespace; network_namespaces(7) (\"the abstract socket namespace\"); unix_bind_abstract() and unix_find_abstract() in net/unix/af_unix.c look in the namespace's own table (net->unx.table; older kernels skip sockets of other namespaces in one global table), unix_find_bsd() finds a socket by its inode only",
    &[Need::Kind(Kind::Net), Need::Kind(Kind::Mnt)],
    unix_abstract_names_per_namespace,
)
.with_deadline(NET_DEADLINE)];

/// The scratch directory's socket file, shared by every namespace of the check.
const PATHNAME: &str = "/tmp/nsc.sock";

fn abstract_name() -> String {
    format!("nsconform-unix-{}", std::process::id())
}

fn abstract_addr(name: &str) -> Result<SocketAddr, nsconform_harness::Stop> {
    SocketAddr::from_abstract_name(name.as_bytes()).setup("building an abstract socket address")
}

fn errno_of(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn unix_abstract_names_per_namespace() -> Outcome {
    // A private mount namespace with a tmpfs on /tmp: the directory every namespace shares.
    spawn(Spawn::clone(&[Kind::Mnt]), |_| {
        tmpfs("/tmp")?;
        let name = abstract_name();
        let shown = format!("@{name}");
        let mut a = spawn(Spawn::clone(&[Kind::Net]), |to_parent| {
            let addr = abstract_addr(&name)?;
            let abstract_listener = UnixListener::bind_addr(&addr).at(&format!("binding {shown} in namespace A"))?;
            let path_listener = UnixListener::bind(PATHNAME).at(&format!("binding {PATHNAME} in namespace A"))?;
            to_parent.sync("A's sockets")?;
            let (mut conn, _) = path_listener.accept().at(&format!("accepting on {PATHNAME} in A"))?;
            let mut byte = [0u8];
            conn.read_exact(&mut byte).at(&format!("reading from the connection on {PATHNAME} in A"))?;
            expect_eq(&format!("the byte received on {PATHNAME} in A"), b'c', byte[0])?;
            // The name still leads to A's own socket, whatever B bound and C tried.
            UnixStream::connect_addr(&addr).at(&format!("connecting to {shown} from A itself"))?;
            abstract_listener.accept().map(drop).at(&format!("accepting on {shown} in A"))
        })?;
        a.sync("A's sockets")?;
        spawn(Spawn::clone(&[Kind::Net]), |_| {
            let addr = abstract_addr(&name)?;
            let _listener = UnixListener::bind_addr(&addr).at(&format!("binding {shown} in namespace B while A holds it"))?;
            UnixStream::connect_addr(&addr).at(&format!("connecting to {shown} from B itself")).map(drop)
        })?
        .join()?;
        spawn(Spawn::clone(&[Kind::Net]), |_| {
            expect_errno(
                &format!("connecting to {shown}, bound in A and B only, from namespace C"),
                Errno::ECONNREFUSED,
                UnixStream::connect_addr(&abstract_addr(&name)?).map(drop).map_err(errno_of),
            )?;
            let mut conn = UnixStream::connect(PATHNAME).at(&format!("connecting to {PATHNAME}, bound in A, from namespace C"))?;
            conn.write_all(b"c").at(&format!("writing to {PATHNAME} from C"))
        })?
        .join()?;
        a.join()
    })?
    .join()
}
