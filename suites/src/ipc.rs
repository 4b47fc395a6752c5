//! IPC namespaces: System V message queues, semaphores and shared memory, POSIX message
//! queues, /proc/sysvipc and the per-namespace IPC sysctls (ipc_namespaces(7)).
//!
//! Every object is created inside a throwaway IPC namespace; none reaches the host's.

use crate::disabled::refused_when_configured_out;
use crate::fixture::{without_capabilities, CREATOR_WITHOUT_CAPABILITIES};
use crate::sys::{poll_until, read_sysctl, write_sysctl};
use nix::errno::Errno;
use nix::mqueue::{mq_close, mq_getattr, mq_open, mq_send, MQ_OFlag, MqAttr};
use nix::sys::stat::Mode;
use nsconform_harness::{expect_eq, expect_errno, expect_that, spawn, At, Check, Kind, Need, Outcome, Spawn, Stop};
use std::ffi::CStr;
use std::time::Duration;

/// Generates the three isolation checks of one kind of IPC object.
macro_rules! isolation_checks {
    ($object:expr, $name:literal, $what:literal, $reference:literal, $needs:expr) => {
        [
            Check::new(
                concat!("ipc.", $name, "-invisible-in-child-namespace"),
                concat!("A ", $what, " is invisible from a child IPC namespace"),
                $reference,
                $needs,
                || invisible_in_child($object),
            ),
            Check::new(
                concat!("ipc.", $name, "-invisible-in-parent-namespace"),
                concat!("A ", $what, " created in a child IPC namespace is invisible from its parent"),
                $reference,
                $needs,
                || invisible_in_parent($object),
            ),
            Check::new(
                concat!("ipc.", $name, "-same-key-distinct-objects"),
                concat!("The same key names two distinct ", $what, " objects in two IPC namespaces"),
                $reference,
                $needs,
                || same_key_distinct_objects($object),
            ),
        ]
    };
}

/// System V IPC (msgget, semget, shmget...) exists only with CONFIG_SYSVIPC (ENOSYS without),
/// POSIX message queues only with CONFIG_POSIX_MQUEUE; CONFIG_IPC_NS needs one of them.
const SYSV: &[Need] = &[Need::Kind(Kind::Ipc), Need::Config("CONFIG_SYSVIPC")];
const POSIX_MQ: &[Need] = &[Need::Kind(Kind::Ipc), Need::Config("CONFIG_POSIX_MQUEUE")];

const MSG: [Check; 3] = isolation_checks!(
    Object::Msg,
    "sysv-msg",
    "System V message queue",
    "ipc_namespaces(7); msgget(2); ipcget() and ipc_findkey() over current->nsproxy->ipc_ns in ipc/util.c",
    SYSV
);
const SEM: [Check; 3] = isolation_checks!(
    Object::Sem,
    "sysv-sem",
    "System V semaphore set",
    "ipc_namespaces(7); semget(2); ipcget() and ipc_findkey() over current->nsproxy->ipc_ns in ipc/util.c",
    SYSV
);
const SHM: [Check; 3] = isolation_checks!(
    Object::Shm,
    "sysv-shm",
    "System V shared memory segment",
    "ipc_namespaces(7); shmget(2); ipcget() and ipc_findkey() over current->nsproxy->ipc_ns in ipc/util.c",
    SYSV
);
const MQ: [Check; 3] = isolation_checks!(
    Object::Mq,
    "posix-mq",
    "POSIX message queue",
    "ipc_namespaces(7); mq_overview(7); do_mq_open() opens names in ipc_ns->mq_mnt, ipc/mqueue.c",
    POSIX_MQ
);

const OTHERS: &[Check] = &[
    Check::new(
        "ipc.proc-sysvipc-shows-readers-namespace",
        "/proc/sysvipc/{msg,sem,shm} list the objects of the reader's IPC namespace only",
        "proc(5) /proc/sysvipc; sysvipc_proc_open() takes current->nsproxy->ipc_ns, ipc/util.c",
        SYSV,
        proc_sysvipc_shows_readers_namespace,
    ),
    Check::new(
        "ipc.mqueue-fs-shows-namespace-queues",
        "An mqueue filesystem mounted in an IPC namespace lists that namespace's queues",
        "mq_overview(7); mqueue_get_tree() mounts current->nsproxy->ipc_ns's queues, ipc/mqueue.c",
        &[Need::Kind(Kind::Ipc), Need::Kind(Kind::Mnt), Need::Config("CONFIG_POSIX_MQUEUE")],
        mqueue_fs_shows_namespace_queues,
    ),
    Check::new(
        "ipc.sysctls-start-at-defaults",
        "Every IPC sysctl of a new IPC namespace starts at its compiled-in default, even when its creator changed its own",
        "ipc_namespaces(7); create_ipc_ns() in ipc/namespace.c calls msg_init_ns(), sem_init_ns(), shm_init_ns() (ipc/msg.c, sem.c, shm.c) and mq_init_ns() (ipc/mqueue.c), which set the defaults, never the creator's values",
        &[Need::Kind(Kind::Ipc), Need::Config("CONFIG_SYSVIPC_SYSCTL"), Need::Config("CONFIG_POSIX_MQUEUE_SYSCTL")],
        sysctls_start_at_defaults,
    ),
    Check::new(
        "ipc.sysctl-change-stays-in-namespace",
        "An IPC sysctl changed in a child namespace changes neither its parent nor a grandchild's starting value",
        "ipc_namespaces(7); ipc/ipc_sysctl.c and ipc/mq_sysctl.c resolve the table of current->nsproxy->ipc_ns",
        &[Need::Kind(Kind::Ipc), Need::Config("CONFIG_SYSVIPC_SYSCTL"), Need::Config("CONFIG_POSIX_MQUEUE_SYSCTL")],
        sysctl_change_stays_in_namespace,
    ),
    Check::new(
        "ipc.sysctls-writable-by-owning-userns-root",
        "Root of the user namespace that owns an IPC namespace, mapped to an unprivileged uid, may write its IPC sysctls (6.9; stable 6.6.45, 6.1.104)",
        "ipc_namespaces(7); ipc_permissions() and ipc_set_ownership() in ipc/ipc_sysctl.c, mq_permissions() and mq_set_ownership() in ipc/mq_sysctl.c (commits 50ec499b9a43 and f9436a5d0497)",
        &[
            Need::KindInOwnUserns(Kind::Ipc),
            Need::Kind(Kind::User),
            Need::Config("CONFIG_SYSVIPC_SYSCTL"),
            Need::Config("CONFIG_POSIX_MQUEUE_SYSCTL"),
            Need::Probe(CREATOR_WITHOUT_CAPABILITIES),
        ],
        sysctls_writable_by_owning_userns_root,
    ),
    Check::new(
        "ipc.objects-destroyed-with-namespace",
        "When an IPC namespace dies its POSIX message queues are destroyed and their RLIMIT_MSGQUEUE charge refunded",
        "ipc_namespaces(7); put_ipc_ns() and free_ipc() in ipc/namespace.c; mqueue_evict_inode() in ipc/mqueue.c",
        &[Need::Kind(Kind::Ipc), Need::KindsWhereConfigured(&[Kind::User]), Need::Config("CONFIG_POSIX_MQUEUE")],
        objects_destroyed_with_namespace,
    )
    .alone("RLIMIT_MSGQUEUE is charged per uid before Linux 5.14 and without user namespaces: another check's queue would count against the limit it fills"),
    Check::new(
        "ipc.sysv-msg-destroyed-with-namespace",
        "When an IPC namespace dies its System V message queues are destroyed and their messages freed (they leave SUnreclaim)",
        "ipc_namespaces(7); free_ipc_ns() in ipc/namespace.c calls msg_exit_ns(), whose freeque() frees every message (free_msg(), ipc/msgutil.c)",
        SYSV,
        || destroyed_with_namespace(Hoard::Messages),
    )
    .with_deadline(HOARD_DEADLINE)
    .alone(MEMINFO_IS_MACHINE_WIDE),
    Check::new(
        "ipc.sysv-sem-destroyed-with-namespace",
        "When an IPC namespace dies its System V semaphore sets are destroyed and freed (they leave SUnreclaim)",
        "ipc_namespaces(7); free_ipc_ns() in ipc/namespace.c calls sem_exit_ns(), whose freeary() frees every set (ipc/sem.c)",
        SYSV,
        || destroyed_with_namespace(Hoard::Semaphores),
    )
    .with_deadline(HOARD_DEADLINE)
    .alone(MEMINFO_IS_MACHINE_WIDE),
    Check::new(
        "ipc.sysv-shm-destroyed-with-namespace",
        "When an IPC namespace dies its unattached System V shared memory segments are destroyed and their pages freed (they leave Shmem)",
        "ipc_namespaces(7); free_ipc_ns() in ipc/namespace.c calls shm_exit_ns(), whose do_shm_rmid() destroys every segment (shm_destroy(), ipc/shm.c)",
        SYSV,
        || destroyed_with_namespace(Hoard::SharedMemory),
    )
    .with_deadline(HOARD_DEADLINE)
    .alone(MEMINFO_IS_MACHINE_WIDE),
    Check::new(
        "ipc.sysv-id-from-other-namespace-einval",
        "A System V id valid in one IPC namespace gives EINVAL in another: msgctl, semctl and shmctl IPC_STAT, and shmat",
        "ipc_namespaces(7); msgctl(2), semctl(2), shmctl(2), shmat(2) EINVAL; ipc_obtain_object_check() looks ids up in current->nsproxy->ipc_ns, ipc/util.c",
        SYSV,
        sysv_id_from_other_namespace_einval,
    ),
    crate::fixture::create_without_cap_sys_admin_eperm!("ipc.create-without-cap-sys-admin-eperm", Kind::Ipc),
    refused_when_configured_out!("ipc.flag-refused-when-configured-out", Kind::Ipc),
];

/// The IPC sysctls of a namespace of its own, written by the check (CONFIG_SYSVIPC_SYSCTL).
const SYSV_SYSCTL: &[Need] = &[Need::Kind(Kind::Ipc), Need::Config("CONFIG_SYSVIPC"), Need::Config("CONFIG_SYSVIPC_SYSCTL")];
const MQ_SYSCTL: &[Need] = &[Need::Kind(Kind::Ipc), Need::Config("CONFIG_POSIX_MQUEUE"), Need::Config("CONFIG_POSIX_MQUEUE_SYSCTL")];

/// The check that an identifier limit set inside an IPC namespace refuses one object more
/// with ENOSPC there.
macro_rules! mni_check {
    ($id:literal, $object:expr, $sysctl:literal, $call:literal, $reference:literal) => {
        Check::new(
            $id,
            concat!(
                "kernel.",
                $sysctl,
                " set to 2 inside an IPC namespace lets ",
                $call,
                " create two objects there and refuses the third with ENOSPC; one removed, a new one is accepted"
            ),
            $reference,
            SYSV_SYSCTL,
            || mni_enospc($object),
        )
    };
}

const LIMITS: &[Check] = &[
    Check::new(
        "ipc.shm-rmid-forced-per-namespace",
        "kernel.shm_rmid_forced = 1 set in a child IPC namespace destroys a segment there at its last detach, while the parent's setting stays 0 and its detached segment survives",
        "ipc_namespaces(7); proc(5) /proc/sys/kernel/shm_rmid_forced; shm_may_destroy() reads shp->ns->shm_rmid_forced, called from __shm_close(), ipc/shm.c",
        SYSV_SYSCTL,
        shm_rmid_forced_per_namespace,
    ),
    Check::new(
        "ipc.mq-unlink-in-callers-namespace",
        "mq_unlink resolves the name in the caller's IPC namespace: a child gets ENOENT for the parent's queue, unlinks its own same-named one, and the parent's stays",
        "mq_unlink(3), mq_overview(7); SYSCALL_DEFINE1(mq_unlink) looks the name up in current->nsproxy->ipc_ns->mq_mnt, ipc/mqueue.c",
        POSIX_MQ,
        mq_unlink_in_callers_namespace,
    ),
    Check::new(
        "ipc.mq-queues-max-enospc",
        "fs.mqueue.queues_max set to 2 inside an IPC namespace lets a creator without CAP_SYS_RESOURCE create two queues there and refuses the third with ENOSPC",
        "mq_overview(7) /proc/sys/fs/mqueue/queues_max; mq_open(3) ENOSPC; mqueue_create_attr() compares ipc_ns->mq_queues_count with ipc_ns->mq_queues_max unless capable(CAP_SYS_RESOURCE), ipc/mqueue.c",
        MQ_SYSCTL,
        mq_queues_max_enospc,
    ),
    Check::new(
        "ipc.mq-msg-limits-einval",
        "fs.mqueue.msg_max and msgsize_max set inside an IPC namespace bound mq_open there for a creator without CAP_SYS_RESOURCE: at the limits accepted, one above EINVAL; the parent namespace's limits stay",
        "mq_overview(7) /proc/sys/fs/mqueue/msg_max, msgsize_max; mq_open(3) EINVAL; mqueue_get_inode() checks mq_maxmsg and mq_msgsize against ipc_ns->mq_msg_max and mq_msgsize_max unless capable(CAP_SYS_RESOURCE), ipc/mqueue.c",
        MQ_SYSCTL,
        mq_msg_limits_einval,
    ),
    mni_check!(
        "ipc.sysv-msgmni-enospc",
        Object::Msg,
        "msgmni",
        "msgget",
        "msgget(2) ENOSPC; proc(5) /proc/sys/kernel/msgmni; newque() passes ns->msg_ctlmni to ipc_addid(), which refuses ids->in_use >= limit, ipc/msg.c and ipc/util.c"
    ),
    mni_check!(
        "ipc.sysv-semmni-enospc",
        Object::Sem,
        "sem (SEMMNI, its fourth field)",
        "semget",
        "semget(2) ENOSPC; proc(5) /proc/sys/kernel/sem; newary() passes ns->sc_semmni to ipc_addid(), which refuses ids->in_use >= limit, ipc/sem.c and ipc/util.c"
    ),
    mni_check!(
        "ipc.sysv-shmmni-enospc",
        Object::Shm,
        "shmmni",
        "shmget",
        "shmget(2) ENOSPC; proc(5) /proc/sys/kernel/shmmni; newseg() passes ns->shm_ctlmni to ipc_addid(), which refuses ids->in_use >= limit, ipc/shm.c and ipc/util.c"
    ),
    Check::new(
        "ipc.namespace-count-refunded-on-death",
        "Under user.max_ipc_namespaces = 1 (set in a child user namespace) IPC namespaces can be created and destroyed one after another: each dead one gives its count back",
        "namespaces(7) /proc/sys/user/max_ipc_namespaces; create_ipc_ns() calls inc_ipc_namespaces(), free_ipc_ns() (from the free_ipc_work queued by put_ipc_ns()) calls dec_ipc_namespaces(), ipc/namespace.c",
        &[Need::Kind(Kind::User), Need::KindInOwnUserns(Kind::Ipc)],
        namespace_count_refunded_on_death,
    ),
];

pub const CHECKS: &[Check] = &[
    MSG[0], MSG[1], MSG[2], SEM[0], SEM[1], SEM[2], SHM[0], SHM[1], SHM[2], MQ[0], MQ[1], MQ[2], OTHERS[0], OTHERS[1], OTHERS[2],
    OTHERS[3], OTHERS[4], OTHERS[5], OTHERS[6], OTHERS[7], OTHERS[8], OTHERS[9], OTHERS[10], OTHERS[11], LIMITS[0], LIMITS[1], LIMITS[2],
    LIMITS[3], LIMITS[4], LIMITS[5], LIMITS[6], LIMITS[7],
];

/// The key and the name every check uses, each in namespaces of its own.
const KEY: libc::key_t = 0x6e73_6300;
const MQ_NAME: &CStr = c"/nsconform";
const MARK: i32 = 7;

#[derive(Clone, Copy)]
enum Object {
    Msg,
    Sem,
    Shm,
    Mq,
}

impl Object {
    fn label(self) -> &'static str {
        match self {
            Object::Msg => "message queue",
            Object::Sem => "semaphore set",
            Object::Shm => "shared memory segment",
            Object::Mq => "POSIX message queue",
        }
    }

    fn get(self, flags: libc::c_int) -> Result<libc::c_int, Errno> {
        self.get_key(KEY, flags)
    }

    /// msgget, semget or shmget of `key` (a POSIX queue has one name and ignores it).
    fn get_key(self, key: libc::key_t, flags: libc::c_int) -> Result<libc::c_int, Errno> {
        // SAFETY: plain system calls with integer arguments.
        let id = match self {
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Object::Msg => unsafe { libc::msgget(key, flags) },
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Object::Sem => unsafe { libc::semget(key, 1, flags) },
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Object::Shm => unsafe { libc::shmget(key, 4096, flags) },
            Object::Mq => {
                let mut oflag = MQ_OFlag::O_RDWR;
                if flags & libc::IPC_CREAT != 0 {
                    oflag |= MQ_OFlag::O_CREAT;
                }
                if flags & libc::IPC_EXCL != 0 {
                    oflag |= MQ_OFlag::O_EXCL;
                }
                // Without attributes nix calls the variadic mq_open without mode and attr.
                let attr = MqAttr::new(0, 4, 64, 0);
                let mq = mq_open(MQ_NAME, oflag, Mode::from_bits_truncate(0o600), Some(&attr))?;
                mq_close(mq)?;
                0
            }
        };
        Errno::result(id)
    }

    /// Creates the object, failing with EEXIST if it exists.
    fn create(self) -> Result<libc::c_int, Errno> {
        self.get(libc::IPC_CREAT | libc::IPC_EXCL | 0o600)
    }

    /// Looks the object up by its key or name, ENOENT when there is none.
    fn lookup(self) -> Result<libc::c_int, Errno> {
        self.get(0)
    }

    /// Puts a recognisable content into the object.
    fn mark(self) -> Result<(), Errno> {
        let id = self.lookup()?;
        match self {
            Object::Msg => {
                let msg = Message { mtype: 1, mtext: [MARK as u8] };
                // SAFETY: msg is a valid msgbuf with one byte of text.
                Errno::result(unsafe { libc::msgsnd(id, (&msg as *const Message).cast(), 1, libc::IPC_NOWAIT) }).map(drop)
            }
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Object::Sem => Errno::result(unsafe { libc::semctl(id, 0, libc::SETVAL, MARK) }).map(drop),
            Object::Shm => with_attached(id, |byte| *byte = MARK as u8),
            Object::Mq => {
                let mq = mq_open(MQ_NAME, MQ_OFlag::O_RDWR, Mode::empty(), None)?;
                let sent = mq_send(&mq, &[MARK as u8], 0);
                mq_close(mq)?;
                sent
            }
        }
    }

    fn is_marked(self) -> Result<bool, Errno> {
        let id = self.lookup()?;
        match self {
            Object::Msg => {
                // SAFETY: an all-zero value is valid for this plain C struct.
                let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
                // SAFETY: ds is a valid msqid_ds for IPC_STAT to fill.
                Errno::result(unsafe { libc::msgctl(id, libc::IPC_STAT, &mut ds) })?;
                Ok(ds.msg_qnum > 0)
            }
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            Object::Sem => Ok(Errno::result(unsafe { libc::semctl(id, 0, libc::GETVAL) })? == MARK),
            Object::Shm => {
                let mut marked = false;
                with_attached(id, |byte| marked = *byte == MARK as u8)?;
                Ok(marked)
            }
            Object::Mq => {
                let mq = mq_open(MQ_NAME, MQ_OFlag::O_RDONLY, Mode::empty(), None)?;
                let attr = mq_getattr(&mq);
                mq_close(mq)?;
                Ok(attr?.curmsgs() > 0)
            }
        }
    }
}

#[repr(C)]
struct Message {
    mtype: libc::c_long,
    mtext: [u8; 1],
}

fn with_attached(id: libc::c_int, f: impl FnOnce(&mut u8)) -> Result<(), Errno> {
    // SAFETY: attaches a segment of at least one page at an address the kernel picks.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    if addr as isize == -1 {
        return Err(Errno::last());
    }
    // SAFETY: addr is a live attachment of a segment at least this large.
    f(unsafe { &mut *(addr as *mut u8) });
    // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
    Errno::result(unsafe { libc::shmdt(addr) }).map(drop)
}

fn invisible_in_child(object: Object) -> Outcome {
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        object.create().at(&format!("creating the {} in the parent namespace", object.label()))?;
        spawn(Spawn::clone(&[Kind::Ipc]), |_| {
            expect_errno(&format!("looking up the parent's {} from the child namespace", object.label()), Errno::ENOENT, object.lookup())
        })?
        .join()
    })?
    .join()
}

fn invisible_in_parent(object: Object) -> Outcome {
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        let mut child = spawn(Spawn::clone(&[Kind::Ipc]), |to_parent| {
            object.create().at(&format!("creating the {} in the child namespace", object.label()))?;
            to_parent.sync("the child's object")
        })?;
        child.sync("the child's object")?;
        expect_errno(&format!("looking up the child's {} from the parent namespace", object.label()), Errno::ENOENT, object.lookup())?;
        child.join()
    })?
    .join()
}

fn same_key_distinct_objects(object: Object) -> Outcome {
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        object.create().at(&format!("creating the {} in the first namespace", object.label()))?;
        object.mark().at(&format!("filling the {} in the first namespace", object.label()))?;
        spawn(Spawn::clone(&[Kind::Ipc]), |_| {
            object.create().at(&format!("creating the {} with the same key, exclusively, in the second namespace", object.label()))?;
            let marked = object.is_marked().at(&format!("reading the {} in the second namespace", object.label()))?;
            expect_that(
                &format!("content of the {} in the second namespace", object.label()),
                !marked,
                "empty (a distinct object)",
                "the first namespace's content",
            )
        })?
        .join()
    })?
    .join()
}

/// The keys listed in a /proc/sysvipc file (first column, decimal).
fn sysvipc_keys(file: &str) -> Result<Vec<i64>, Stop> {
    let path = format!("/proc/sysvipc/{file}");
    let text = std::fs::read_to_string(&path).at(&format!("reading {path}"))?;
    Ok(text.lines().skip(1).filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect())
}

fn proc_sysvipc_shows_readers_namespace() -> Outcome {
    const FILES: [(&str, Object); 3] = [("msg", Object::Msg), ("sem", Object::Sem), ("shm", Object::Shm)];
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        for (file, object) in FILES {
            object.create().at(&format!("creating the {}", object.label()))?;
            let keys = sysvipc_keys(file)?;
            expect_eq(&format!("keys in /proc/sysvipc/{file} of the creating namespace"), vec![KEY as i64], keys)?;
        }
        spawn(Spawn::clone(&[Kind::Ipc]), |_| {
            for (file, _) in FILES {
                expect_eq(&format!("keys in /proc/sysvipc/{file} of another namespace"), Vec::<i64>::new(), sysvipc_keys(file)?)?;
            }
            Ok(())
        })?
        .join()
    })?
    .join()
}

/// Mounts an mqueue filesystem on /tmp (in a private mount namespace) and lists it.
fn mqueue_listing() -> Result<Vec<String>, Stop> {
    use nix::mount::{mount, MsFlags};
    mount(Some("mqueue"), "/tmp", Some("mqueue"), MsFlags::empty(), None::<&str>).at("mounting mqueue on /tmp")?;
    let entries = std::fs::read_dir("/tmp").at("listing the mqueue filesystem")?;
    Ok(entries.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
}

fn mqueue_fs_shows_namespace_queues() -> Outcome {
    spawn(Spawn::clone(&[Kind::Ipc, Kind::Mnt]), |_| {
        Object::Mq.create().at("creating the POSIX message queue /nsconform")?;
        expect_eq("the mqueue filesystem of the creating namespace", vec!["nsconform".to_string()], mqueue_listing()?)?;
        spawn(Spawn::clone(&[Kind::Ipc, Kind::Mnt]), |_| {
            expect_eq("the mqueue filesystem of another namespace", Vec::<String>::new(), mqueue_listing()?)
        })?
        .join()
    })?
    .join()
}

/// The compiled-in defaults (include/uapi/linux/msg.h MSGMAX/MSGMNB/MSGMNI, sem.h SEM*,
/// shm.h SHMMNI/SHMMAX/SHMALL, include/linux/ipc_namespace.h DFLT_QUEUESMAX/DFLT_MSG*).
const DEFAULTS: &[(&str, &str)] = &[
    ("/proc/sys/kernel/msgmax", "8192"),
    ("/proc/sys/kernel/msgmnb", "16384"),
    ("/proc/sys/kernel/msgmni", "32000"),
    ("/proc/sys/kernel/sem", "32000 1024000000 500 32000"),
    ("/proc/sys/kernel/shmmni", "4096"),
    ("/proc/sys/kernel/shmmax", "18446744073692774399"),
    ("/proc/sys/kernel/shmall", "18446744073692774399"),
    ("/proc/sys/kernel/shm_rmid_forced", "0"),
    ("/proc/sys/fs/mqueue/queues_max", "256"),
    ("/proc/sys/fs/mqueue/msg_max", "10"),
    ("/proc/sys/fs/mqueue/msgsize_max", "8192"),
    ("/proc/sys/fs/mqueue/msg_default", "10"),
    ("/proc/sys/fs/mqueue/msgsize_default", "8192"),
];

/// A value other than the default for every entry of `DEFAULTS`, in the same order, each
/// within the range its handler accepts (ipc/ipc_sysctl.c, ipc/mq_sysctl.c).
const CHANGED: &[&str] = &["4096", "8192", "100", "250 32000 32 128", "100", "1048576", "2097152", "1", "16", "5", "4096", "5", "4096"];

/// The releases whose root of an IPC namespace's owning user namespace may write its IPC
/// sysctls: 6.9 (commits 50ec499b9a43 "sysctl: allow change system v ipc sysctls inside ipc
/// namespace" and f9436a5d0497 "sysctl: allow to change limits for posix messages queues"),
/// backported to 6.6.45 and 6.1.104 (both released 2024-08-11). Before, only the initial
/// user namespace's root could write them.
fn userns_root_may_write_ipc_sysctls((major, minor, patch): (u32, u32, u32)) -> bool {
    (major, minor) >= (6, 9) || ((major, minor) == (6, 6) && patch >= 45) || ((major, minor) == (6, 1) && patch >= 104)
}

const IPC_SYSCTL_RULE: &str = "6.9, commits 50ec499b9a43 and f9436a5d0497; stable 6.6.45 and 6.1.104";

/// Writes an IPC sysctl of the caller's own IPC namespace. A refusal as root of a user
/// namespace is a SKIP on kernels that predate the rule allowing it, a FAIL on the others.
fn write_ipc_sysctl(path: &str, value: &str) -> Outcome {
    let step = format!("writing {value:?} to {path} in an IPC namespace of its own");
    match write_sysctl(path, value) {
        Err(errno @ (Errno::EACCES | Errno::EPERM)) if !nsconform_harness::host::is_initial(Kind::User) => {
            let version = crate::sys::upstream_version();
            let (major, minor, patch) = version;
            if userns_root_may_write_ipc_sysctls(version) {
                return Err(Stop::fail(
                    step,
                    format!("success: root of the owning user namespace may write IPC sysctls ({IPC_SYSCTL_RULE}), and this is {major}.{minor}.{patch}"),
                    errno.to_string(),
                ));
            }
            // The sublevel matters only in the lines that got the backport.
            let this =
                if matches!((major, minor), (6, 1) | (6, 6)) { format!("{major}.{minor}.{patch}") } else { format!("{major}.{minor}") };
            Err(Stop::skip(format!(
                "writing {path} as root of a user namespace gave {errno}: Linux {this} predates the rule that allows it ({IPC_SYSCTL_RULE})"
            )))
        }
        other => other.at(&step),
    }
}

fn sysctls_start_at_defaults() -> Outcome {
    // The creator changes every IPC sysctl of its own fresh namespace first, so that a
    // kernel that copied the creator's values into the new namespace is caught.
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        for ((path, default), value) in DEFAULTS.iter().zip(CHANGED) {
            write_ipc_sysctl(path, value)?;
            let now = read_sysctl(path)?;
            expect_eq(&format!("{path} read back in the creator's namespace (default {default})"), value.to_string(), now)?;
        }
        spawn(Spawn::clone(&[Kind::Ipc]), |_| {
            let mut expected = Vec::new();
            let mut observed = Vec::new();
            for (path, default) in DEFAULTS {
                let value = read_sysctl(path)?;
                if value != *default {
                    expected.push(format!("{path}={default}"));
                    observed.push(format!("{path}={value}"));
                }
            }
            expect_eq("IPC sysctls of a namespace whose creator changed all of its own", expected.join(", "), observed.join(", "))
        })?
        .join()
    })?
    .join()
}

fn sysctls_writable_by_owning_userns_root() -> Outcome {
    // Before the rule, only an euid of global root could write them: the writer here is
    // root of a user namespace mapped to an unprivileged uid, so only the rule lets it write.
    without_capabilities(|| {
        let outside = nix::unistd::geteuid();
        spawn(Spawn::clone(&[Kind::User, Kind::Ipc]).map_root(), move |_| {
            for (path, value, _) in CHANGES {
                write_ipc_sysctl(path, value).map_err(|stop| stop.within(&format!("root of a user namespace mapped to uid {outside}")))?;
                expect_eq(&format!("{path} read back"), value.to_string(), read_sysctl(path)?)?;
            }
            Ok(())
        })?
        .join()
    })
}

/// One SysV and one POSIX sysctl, each with a value other than its default.
const CHANGES: [(&str, &str, &str); 2] = [("/proc/sys/kernel/msgmax", "4096", "8192"), ("/proc/sys/fs/mqueue/msg_max", "5", "10")];

fn sysctl_change_stays_in_namespace() -> Outcome {
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        let before: Vec<String> = CHANGES.iter().map(|(path, _, _)| read_sysctl(path)).collect::<Result<_, _>>()?;
        let mut child = spawn(Spawn::clone(&[Kind::Ipc]), |to_parent| {
            for (path, value, _) in CHANGES {
                write_ipc_sysctl(path, value)?;
                expect_eq(&format!("{path} read back in the child namespace"), value.to_string(), read_sysctl(path)?)?;
            }
            spawn(Spawn::clone(&[Kind::Ipc]), |_| {
                for (path, _, default) in CHANGES {
                    expect_eq(&format!("{path} in a grandchild namespace"), default.to_string(), read_sysctl(path)?)?;
                }
                Ok(())
            })?
            .join()?;
            to_parent.sync("the child's changes")
        })?;
        child.sync("the child's changes")?;
        for ((path, _, _), old) in CHANGES.iter().zip(before) {
            expect_eq(&format!("{path} in the parent namespace after the child changed its own"), old, read_sysctl(path)?)?;
        }
        child.join()
    })?
    .join()
}

/// Room for one queue of 10 messages of 8192 bytes (about 82 KB with its bookkeeping) but
/// not for two (mqueue_get_inode() charges mq_treesize + maxmsg * msgsize).
const MSGQUEUE_LIMIT: u64 = 120_000;

/// Creates the 10 x 8192 queue under `MSGQUEUE_LIMIT`; EMFILE means the limit is used up.
fn create_charged_queue() -> Result<(), Errno> {
    use nix::sys::resource::{setrlimit, Resource};
    setrlimit(Resource::RLIMIT_MSGQUEUE, MSGQUEUE_LIMIT, MSGQUEUE_LIMIT)?;
    let attr = MqAttr::new(0, 10, 8192, 0);
    let mq = mq_open(MQ_NAME, MQ_OFlag::O_RDWR | MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL, Mode::from_bits_truncate(0o600), Some(&attr))?;
    mq_close(mq)
}

fn objects_destroyed_with_namespace() -> Outcome {
    // RLIMIT_MSGQUEUE is counted per user namespace and uid since 5.14 (inc_rlimit_ucounts()
    // in kernel/ucount.c): in a user namespace of its own, no other process's queues count,
    // nor those of a namespace the kernel is still freeing from an earlier run. Before 5.14
    // (and without CONFIG_USER_NS) the count is the uid's, as it would be anyway.
    if std::path::Path::new("/proc/self/ns/user").exists() {
        spawn(Spawn::clone(&[Kind::User]).map_root(), |_| queues_destroyed_with_namespace())?.join()
    } else {
        queues_destroyed_with_namespace()
    }
}

fn queues_destroyed_with_namespace() -> Outcome {
    let mut doomed = spawn(Spawn::clone(&[Kind::Ipc]), |to_parent| {
        match create_charged_queue() {
            Err(Errno::EMFILE) => {
                return Err(Stop::skip(format!(
                    "other POSIX message queues of this user already use most of a {MSGQUEUE_LIMIT}-byte RLIMIT_MSGQUEUE"
                )))
            }
            other => other.at("creating a 10 x 8192-byte queue in the doomed namespace")?,
        }
        to_parent.sync("the charged queue")?;
        to_parent.recv::<()>("the order to exit")
    })?;
    doomed.sync("the charged queue")?;
    let mut witness = spawn(Spawn::clone(&[Kind::Ipc]), |to_parent| {
        expect_errno(
            "creating a second such queue while the first namespace lives (the user's RLIMIT_MSGQUEUE is shared)",
            Errno::EMFILE,
            create_charged_queue(),
        )?;
        to_parent.sync("the refused queue")?;
        to_parent.recv::<()>("the news that the doomed namespace is gone")?;
        let freed = poll_until(Duration::from_secs(3), || create_charged_queue().is_ok());
        expect_that(
            "creating the queue again after the doomed namespace died",
            freed,
            "success within 3 s: the dead namespace's queue was destroyed and its charge refunded",
            "EMFILE for 3 s: the dead namespace's queue is still charged",
        )
    })?;
    witness.sync("the refused queue")?;
    doomed.send("the order to exit", &())?;
    doomed.join()?;
    witness.send("the news that the doomed namespace is gone", &())?;
    witness.join()
}

/// What a doomed namespace hoards, and the /proc/meminfo line that shows it.
#[derive(Clone, Copy)]
enum Hoard {
    /// Messages of 8192 bytes, two to a queue (a queue's default msgmnb is 16384): kmalloc'ed
    /// msg_msg and msg_msgseg (alloc_msg(), ipc/msgutil.c).
    Messages,
    /// Sets of 100 semaphores, under 8 KiB each (sem_alloc(), ipc/sem.c).
    Semaphores,
    /// One segment, every page allocated, then detached (shmem pages, shm_get_unmapped_area()).
    SharedMemory,
}

/// Why the checks that watch /proc/meminfo run alone.
const MEMINFO_IS_MACHINE_WIDE: &str = "it watches machine-wide /proc/meminfo counters, which other checks move";

/// One round of a destruction check: how much the doomed namespace hoards (half of it must be
/// seen to come and go) and how long its objects may take to go.
struct Round {
    hoard: u64,
    wait: Duration,
}

/// A small hoard first, which a quiet machine shows at once and which fills fast without KVM;
/// large ones when other processes' activity hid the small one's rise or fall. Only a large
/// round whose rise was seen and whose fall was not is a FAIL.
const ROUNDS: [Round; 3] = [
    Round { hoard: 4 << 20, wait: Duration::from_secs(1) },
    Round { hoard: LARGE, wait: Duration::from_secs(3) },
    Round { hoard: LARGE, wait: Duration::from_secs(3) },
];
const LARGE: u64 = 32 << 20;

/// The three rounds' filling and waiting at worst, with room to spare.
const HOARD_DEADLINE: Duration = Duration::from_secs(12);

impl Hoard {
    fn counter(self) -> &'static str {
        match self {
            Hoard::Messages | Hoard::Semaphores => "SUnreclaim",
            Hoard::SharedMemory => "Shmem",
        }
    }

    /// Fills the caller's IPC namespace with about `bytes` of objects.
    fn fill(self, bytes: u64) -> Outcome {
        match self {
            Hoard::Messages => {
                #[repr(C)]
                struct Big {
                    mtype: libc::c_long,
                    mtext: [u8; 8192],
                }
                let msg = Big { mtype: 1, mtext: [0x6e; 8192] };
                for _ in 0..bytes / (2 * 8192) {
                    // SAFETY: plain system calls; msg is a msgbuf with 8192 bytes of text.
                    let id =
                        Errno::result(unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) }).at("msgget(IPC_PRIVATE)")?;
                    for _ in 0..2 {
                        // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
                        Errno::result(unsafe { libc::msgsnd(id, (&msg as *const Big).cast(), 8192, libc::IPC_NOWAIT) })
                            .at("msgsnd of 8192 bytes")?;
                    }
                }
                Ok(())
            }
            Hoard::Semaphores => {
                for _ in 0..bytes / 8192 {
                    // SAFETY: plain system call with integer arguments.
                    Errno::result(unsafe { libc::semget(libc::IPC_PRIVATE, 100, libc::IPC_CREAT | 0o600) })
                        .at("semget(IPC_PRIVATE, 100)")?;
                }
                Ok(())
            }
            Hoard::SharedMemory => {
                let size = bytes as usize;
                // SAFETY: plain system calls; the segment is attached, written within its size, detached.
                let id = Errno::result(unsafe { libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600) })
                    .at(&format!("shmget of {}", mib(bytes as i128)))?;
                // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
                let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
                if addr as isize == -1 {
                    return Err(Errno::last()).at("shmat");
                }
                // One system call allocates every page (MADV_POPULATE_WRITE, Linux 5.14) where a
                // write to each page would fault once per page, slowly without KVM.
                // SAFETY: addr is a live attachment of a segment at least this large.
                if unsafe { libc::madvise(addr, size, libc::MADV_POPULATE_WRITE) } != 0 {
                    // SAFETY: as above.
                    unsafe { std::ptr::write_bytes(addr as *mut u8, 0x6e, size) };
                }
                // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
                Errno::result(unsafe { libc::shmdt(addr) }).at("shmdt").map(drop)
            }
        }
    }
}

/// A line of /proc/meminfo, in bytes.
fn meminfo(counter: &str) -> Result<u64, Stop> {
    let text = std::fs::read_to_string("/proc/meminfo").at("reading /proc/meminfo")?;
    let kib = text.lines().find_map(|l| l.strip_prefix(counter)?.strip_prefix(':')?.split_whitespace().next()?.parse::<u64>().ok());
    kib.map(|k| k * 1024).ok_or_else(|| Stop::fail("reading /proc/meminfo", format!("a {counter} line"), "none"))
}

fn mib(bytes: i128) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Nothing but the namespace's death frees what it holds: the doomed process fills a fresh
/// IPC namespace, leaves everything in place (no IPC_RMID) and exits. The counter is global,
/// so each round wants half its hoard to show up and then to leave (see `ROUNDS`).
fn destroyed_with_namespace(hoard: Hoard) -> Outcome {
    let counter = hoard.counter();
    let mut hidden = Vec::new();
    for round in &ROUNDS {
        let decisive = round.hoard == LARGE;
        let margin = round.hoard / 2;
        let before = meminfo(counter)?;
        let bytes = round.hoard;
        let mut doomed = spawn(Spawn::clone(&[Kind::Ipc]), move |to_parent| {
            hoard.fill(bytes)?;
            to_parent.sync("the filled namespace")?;
            to_parent.recv::<()>("the order to exit")
        })?;
        doomed.sync("the filled namespace")?;
        let alive = meminfo(counter)?;
        doomed.send("the order to exit", &())?;
        doomed.join()?;
        let rise = alive as i128 - before as i128;
        if rise < margin as i128 {
            hidden.push(format!("rose by only {} with {}", mib(rise), mib(round.hoard as i128)));
            // Let the namespace go before the next round measures.
            poll_until(Duration::from_millis(500), || meminfo(counter).is_ok_and(|now| now <= before));
            continue;
        }
        let mut last = alive;
        let freed = poll_until(round.wait, || {
            last = meminfo(counter).unwrap_or(alive);
            last + margin <= alive
        });
        if !freed && !decisive {
            hidden.push(format!("kept {} of {} for {:?}", mib(alive as i128 - last as i128), mib(round.hoard as i128), round.wait));
            continue;
        }
        return expect_that(
            &format!("{counter} of /proc/meminfo after the namespace died"),
            freed,
            format!("at least {} below its {} while the namespace lived, within {:?}", mib(margin as i128), mib(alive as i128), round.wait),
            format!(
                "{} after {:?} ({} freed): the dead namespace's objects were not destroyed (earlier rounds: {})",
                mib(last as i128),
                round.wait,
                mib(alive as i128 - last as i128),
                if hidden.is_empty() { "none".into() } else { hidden.join("; ") }
            ),
        );
    }
    Err(Stop::skip(format!(
        "{counter} of /proc/meminfo did not show a hoard in three rounds ({}): other processes' activity or this kernel's accounting hides it",
        hidden.join("; ")
    )))
}

/// msgctl, semctl or shmctl IPC_STAT of `id` in the caller's namespace.
fn stat(object: Object, id: libc::c_int) -> Result<(), Errno> {
    // SAFETY: each buffer is the structure IPC_STAT fills for its kind.
    let ret = match object {
        Object::Msg => {
            // SAFETY: an all-zero value is valid for this plain C struct.
            let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            unsafe { libc::msgctl(id, libc::IPC_STAT, &mut ds) }
        }
        Object::Sem => {
            // SAFETY: an all-zero value is valid for this plain C struct.
            let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds) }
        }
        Object::Shm => {
            // SAFETY: an all-zero value is valid for this plain C struct.
            let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
            // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
            unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) }
        }
        Object::Mq => unreachable!("POSIX queues have no ids"),
    };
    Errno::result(ret).map(drop)
}

fn shmat_detach(id: libc::c_int) -> Result<(), Errno> {
    // SAFETY: attaches at an address the kernel picks and detaches at once.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY) };
    if addr as isize == -1 {
        return Err(Errno::last());
    }
    // SAFETY: a system call with integer arguments or pointers to live buffers of the type it expects.
    Errno::result(unsafe { libc::shmdt(addr) }).map(drop)
}

fn sysv_id_from_other_namespace_einval() -> Outcome {
    const SYSV_OBJECTS: [Object; 3] = [Object::Msg, Object::Sem, Object::Shm];
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        // Two objects of each kind: the second one's id (index 1) cannot be the id of the
        // other namespace's first object (index 0).
        let mut ids = Vec::new();
        for object in SYSV_OBJECTS {
            object.create().at(&format!("creating a first {} in the first namespace", object.label()))?;
            let id = object
                .get_key(KEY + 1, libc::IPC_CREAT | libc::IPC_EXCL | 0o600)
                .at(&format!("creating a second {} in the first namespace", object.label()))?;
            stat(object, id).at(&format!("IPC_STAT of the {} (id {id}) in its own namespace", object.label()))?;
            ids.push(id);
        }
        shmat_detach(ids[2]).at(&format!("shmat of the segment (id {}) in its own namespace", ids[2]))?;
        spawn(Spawn::clone(&[Kind::Ipc]), move |_| {
            for (object, foreign) in SYSV_OBJECTS.into_iter().zip(ids.iter().copied()) {
                let own = object.create().at(&format!("creating a {} in the second namespace", object.label()))?;
                stat(object, own).at(&format!("IPC_STAT of the second namespace's own {} (id {own})", object.label()))?;
                let call = match object {
                    Object::Msg => "msgctl",
                    Object::Sem => "semctl",
                    _ => "shmctl",
                };
                expect_errno(
                    &format!("{call}(id {foreign} of the first namespace, IPC_STAT) in the second namespace"),
                    Errno::EINVAL,
                    stat(object, foreign),
                )?;
            }
            expect_errno(
                &format!("shmat(id {} of the first namespace) in the second namespace", ids[2]),
                Errno::EINVAL,
                shmat_detach(ids[2]),
            )
        })?
        .join()
    })?
    .join()
}

/// include/uapi/linux/capability.h
const CAP_SYS_RESOURCE: u32 = 24;

/// In a forked child, runs `body` without CAP_SYS_RESOURCE in its effective set: with it
/// (in the initial user namespace) mqueue ignores the namespace's queues_max, msg_max and
/// msgsize_max. A process of a user namespace does not hold it there anyway.
fn without_cap_sys_resource(body: impl FnOnce() -> Outcome) -> Outcome {
    spawn(Spawn::fork(), |_| {
        match crate::sys::set_effective_cap(CAP_SYS_RESOURCE, false) {
            // A permitted set without it: nothing to drop.
            Ok(()) | Err(Errno::EPERM) => {}
            Err(e) => return Err(e).at("clearing CAP_SYS_RESOURCE from the effective set"),
        }
        if nsconform_harness::host::has_effective_cap(CAP_SYS_RESOURCE).map_err(|e| Stop::broken("reading CapEff", "readable", e))? {
            return Err(Stop::broken("clearing CAP_SYS_RESOURCE from the effective set", "cleared", "still effective"));
        }
        body()
    })?
    .join()
}

/// Creates the segment of `KEY`, attaches it, detaches it, and tells whether it still exists.
fn segment_survives_detach() -> Result<bool, Stop> {
    let id = Object::Shm.create().at("shmget(IPC_CREAT | IPC_EXCL) of the segment")?;
    with_attached(id, |byte| *byte = MARK as u8).at(&format!("shmat and shmdt of the segment (id {id})"))?;
    match Object::Shm.lookup() {
        Ok(_) => {
            // SAFETY: a system call with integer arguments and a null buffer IPC_RMID ignores.
            Errno::result(unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) }).at("shmctl(IPC_RMID)")?;
            Ok(true)
        }
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(e).at("shmget of the segment's key after its last detach"),
    }
}

fn shm_rmid_forced_per_namespace() -> Outcome {
    const PATH: &str = "/proc/sys/kernel/shm_rmid_forced";
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        expect_eq(&format!("{PATH} of a new IPC namespace"), "0".to_string(), read_sysctl(PATH)?)?;
        spawn(Spawn::clone(&[Kind::Ipc]), |_| {
            write_ipc_sysctl(PATH, "1")?;
            let survives = segment_survives_detach()?;
            expect_that(
                "the segment after its last detach in the child namespace, whose shm_rmid_forced is 1",
                !survives,
                "destroyed (shmget of its key: ENOENT)",
                "still there",
            )
        })?
        .join()?;
        expect_eq(&format!("{PATH} of the parent namespace after the child set its own"), "0".to_string(), read_sysctl(PATH)?)?;
        let survives = segment_survives_detach()?;
        expect_that(
            "the segment after its last detach in the parent namespace, whose shm_rmid_forced is 0",
            survives,
            "still there",
            "destroyed",
        )
    })?
    .join()
}

fn mq_unlink_in_callers_namespace() -> Outcome {
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        Object::Mq.create().at("creating the queue /nsconform in the parent namespace")?;
        spawn(Spawn::clone(&[Kind::Ipc]), |_| {
            expect_errno(
                "mq_unlink(\"/nsconform\") in the child namespace, which has no such queue",
                Errno::ENOENT,
                nix::mqueue::mq_unlink(MQ_NAME),
            )?;
            Object::Mq.create().at("creating a queue /nsconform of the child namespace")?;
            nix::mqueue::mq_unlink(MQ_NAME).at("mq_unlink(\"/nsconform\") of the child's own queue")?;
            expect_errno("opening /nsconform in the child namespace after it unlinked its queue", Errno::ENOENT, Object::Mq.lookup())
        })?
        .join()?;
        Object::Mq.lookup().at("opening the parent's /nsconform after the child's mq_unlink")?;
        Ok(())
    })?
    .join()
}

/// mq_open(O_CREAT | O_EXCL) of `name` with `maxmsg` messages of `msgsize` bytes.
fn create_queue(name: &CStr, maxmsg: libc::c_long, msgsize: libc::c_long) -> Result<(), Errno> {
    let attr = MqAttr::new(0, maxmsg, msgsize, 0);
    let mq = mq_open(name, MQ_OFlag::O_RDWR | MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL, Mode::from_bits_truncate(0o600), Some(&attr))?;
    mq_close(mq)
}

fn mq_queues_max_enospc() -> Outcome {
    const PATH: &str = "/proc/sys/fs/mqueue/queues_max";
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        write_ipc_sysctl(PATH, "2")?;
        without_cap_sys_resource(|| {
            create_queue(c"/nsconform-1", 1, 64).at(&format!("creating a first queue under {PATH} = 2"))?;
            create_queue(c"/nsconform-2", 1, 64).at(&format!("creating a second queue under {PATH} = 2 (the last accepted)"))?;
            expect_errno(&format!("creating a third queue under {PATH} = 2"), Errno::ENOSPC, create_queue(c"/nsconform-3", 1, 64))
        })
    })?
    .join()
}

fn mq_msg_limits_einval() -> Outcome {
    const MSG_MAX: &str = "/proc/sys/fs/mqueue/msg_max";
    const MSGSIZE_MAX: &str = "/proc/sys/fs/mqueue/msgsize_max";
    spawn(Spawn::clone(&[Kind::Ipc]), |_| {
        spawn(Spawn::clone(&[Kind::Ipc]), |_| {
            write_ipc_sysctl(MSG_MAX, "5")?;
            write_ipc_sysctl(MSGSIZE_MAX, "1024")?;
            without_cap_sys_resource(|| {
                create_queue(c"/nsconform-1", 5, 1024).at("mq_open of 5 messages of 1024 bytes under msg_max = 5, msgsize_max = 1024")?;
                expect_errno("mq_open of 6 messages under msg_max = 5", Errno::EINVAL, create_queue(c"/nsconform-2", 6, 64))?;
                expect_errno(
                    "mq_open of 1025-byte messages under msgsize_max = 1024",
                    Errno::EINVAL,
                    create_queue(c"/nsconform-3", 1, 1025),
                )
            })
        })?
        .join()?;
        // The parent's limits are still the defaults (10 messages, 8192 bytes).
        without_cap_sys_resource(|| {
            create_queue(c"/nsconform-4", 6, 1025)
                .at("mq_open of 6 messages of 1025 bytes in the parent namespace (msg_max 10, msgsize_max 8192)")
        })
    })?
    .join()
}

/// The sysctl and the value that set `object`'s identifier limit to 2.
fn mni_sysctl(object: Object) -> (&'static str, &'static str) {
    match object {
        Object::Msg => ("/proc/sys/kernel/msgmni", "2"),
        Object::Sem => ("/proc/sys/kernel/sem", "32000 1024000000 500 2"),
        _ => ("/proc/sys/kernel/shmmni", "2"),
    }
}

/// Removes the System V object `id` of `object`'s kind.
fn remove(object: Object, id: libc::c_int) -> Result<(), Errno> {
    // SAFETY: IPC_RMID with integer arguments; shmctl and msgctl ignore the null buffer.
    let ret = match object {
        // SAFETY: as above.
        Object::Msg => unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) },
        // SAFETY: as above.
        Object::Sem => unsafe { libc::semctl(id, 0, libc::IPC_RMID) },
        // SAFETY: as above.
        _ => unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) },
    };
    Errno::result(ret).map(drop)
}

fn mni_enospc(object: Object) -> Outcome {
    spawn(Spawn::clone(&[Kind::Ipc]), move |_| {
        let (path, value) = mni_sysctl(object);
        write_ipc_sysctl(path, value)?;
        expect_eq(&format!("{path} read back"), value.to_string(), read_sysctl(path)?.split_whitespace().collect::<Vec<_>>().join(" "))?;
        let private = || object.get_key(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600);
        let first = private().at(&format!("creating a first {} under the limit of 2", object.label()))?;
        private().at(&format!("creating a second {} under the limit of 2 (the last accepted)", object.label()))?;
        expect_errno(&format!("creating a third {} under the limit of 2", object.label()), Errno::ENOSPC, private())?;
        remove(object, first).at(&format!("removing the first {}", object.label()))?;
        private().at(&format!("creating a {} again once one was removed", object.label())).map(drop)
    })?
    .join()
}

fn namespace_count_refunded_on_death() -> Outcome {
    const PATH: &str = "/proc/sys/user/max_ipc_namespaces";
    spawn(Spawn::clone(&[Kind::User]).map_root(), |_| {
        write_sysctl(PATH, "1").at(&format!("lowering {PATH} to 1 in the child user namespace"))?;
        // The second namespace can exist only if the first, dead, gave its count back.
        for round in 1..=2 {
            // A namespace is freed from a work queue after its last process is reaped; 6.12's
            // create_ipc_ns() flushes that work before answering ENOSPC, and a short grace
            // covers kernels that do not, well within the deadline.
            let mut last = Ok(());
            let created = poll_until(Duration::from_secs(1), || {
                last = crate::sys::try_clone(libc::CLONE_NEWIPC);
                last.is_ok()
            });
            if !created {
                return match last {
                    Err(Errno::ENOSPC) => Err(Stop::fail(
                        format!("creating IPC namespace {round} under {PATH} = 1, each earlier one dead"),
                        "success within 1 s: the dead namespace gave its count back",
                        "ENOSPC for 1 s",
                    )),
                    other => other.at(&format!("creating IPC namespace {round} under {PATH} = 1")),
                };
            }
        }
        Ok(())
    })?
    .join()
}

#[cfg(test)]
mod tests {
    use super::userns_root_may_write_ipc_sysctls;

    #[test]
    fn the_ipc_sysctl_rule_counts_stable_backports() {
        for (version, allowed) in [
            ((5, 10, 230), false),
            ((5, 15, 170), false),
            ((6, 1, 103), false),
            ((6, 1, 104), true),
            ((6, 6, 44), false),
            ((6, 6, 45), true),
            ((6, 8, 12), false),
            ((6, 9, 0), true),
            ((6, 12, 0), true),
            ((7, 0, 0), true),
        ] {
            assert_eq!(userns_root_may_write_ipc_sysctls(version), allowed, "{version:?}");
        }
    }
}
