//! Keepers: a small process per container that writes its log and holds a second copy of its
//! terminal master (`-t`) and stdin write end (`-i`), so that all of them outlive a berthd
//! restart.
//!
//! berth has no shim. The keeper reads the container's stdout and stderr pipes (or its
//! terminal) and appends them to the container's log as records (see [`super::logs`]), so the
//! container's output goes on being logged, in order and stamped, while no daemon runs, and a
//! container never writes into a pipe nobody reads. It also holds copies of the terminal
//! master and the stdin pipe, which berthd uses for input and resizes: without a second holder,
//! berthd's exit would close the last copy, the kernel would hang up the terminal (the shell
//! gets SIGHUP) or the container would read the end of its stdin. After a restart berthd asks
//! the keeper for copies again. The keeper ends when the container's init does (it watches a
//! pidfd), once it has drained the output, so it never outlives what it keeps; berthd watches
//! the keeper's end to know that the log is complete.
//!
//! The keeper is berthd itself (`berthd keep-stdio SOCKET PID`), in a session of its own, and
//! talks over a unix socket one request per connection: `P` hands it descriptors, `G` gets
//! copies back, `C` closes its copy of stdin (StdinOnce: the container must read the end).

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The argument that turns berthd into a keeper.
pub const SUBCOMMAND: &str = "keep-stdio";

const HAS_TTY: u8 = 1;
const HAS_STDIN: u8 = 2;
/// Handed: the log file. Answered to `G`: this keeper writes the log (keepers from before the
/// record log only held descriptors, and the daemon copied the terminal itself).
const HAS_LOG: u8 = 4;
const HAS_OUT: u8 = 8;
const HAS_ERR: u8 = 16;
/// Descriptors in one request at most: terminal, stdin, log, stdout, stderr.
const MAX_FDS: usize = 5;

/// A daemon that does not answer within this is not waited for.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The socket of the keeper of container `id` whose init is `pid`. The PID is in the name so
/// that a restarted container's new keeper never shares a path with the one still ending.
pub fn socket_path(dir: &Path, id: &str, pid: u32) -> PathBuf {
    dir.join(format!("{}.{pid}.sock", &id[..id.len().min(12)]))
}

/// What a keeper holds, handed back to the daemon.
#[derive(Debug, Default)]
pub struct Kept {
    pub tty: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    /// Whether the keeper writes the container's log.
    pub logs: bool,
    /// A pidfd of the keeper, readable once it has ended (and so drained the output).
    pub keeper: Option<OwnedFd>,
}

/// What a keeper is handed: copies to hold, the output to log and the log to write it to.
#[derive(Debug, Default)]
pub struct Handed {
    pub tty: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub log: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

// ------------------------------------------------------------------ daemon side

/// Starts a keeper for container `id` (init `pid`) with what it is handed (the terminal and
/// stdin as copies: the daemon keeps its own). Returns once it holds them, with a pidfd of the
/// keeper, readable once it has ended.
pub fn spawn(dir: &Path, id: &str, pid: u32, handed: &Handed) -> io::Result<OwnedFd> {
    std::fs::create_dir_all(dir)?;
    let path = socket_path(dir, id, pid);
    if path.as_os_str().len() > 107 {
        return Err(io::Error::other(format!(
            "keeper socket path {} is longer than a unix socket allows; choose a shorter exec-root",
            path.display()
        )));
    }
    // posix_spawn (no pre_exec hook): the keeper inherits none of the daemon's descriptors but
    // the pipe it reports on; it gets the ones to keep over its socket.
    let mut child = Command::new("/proc/self/exe")
        .arg(SUBCOMMAND)
        .arg(&path)
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        io::BufReader::new(out).read_line(&mut line)?;
    }
    if line.trim_end() != "ready" {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            // Its words only add detail to the error below; without them the error stands.
            let _ = e.read_to_string(&mut err);
        }
        // It ended before its own session: ours to reap.
        if let Err(e) = child.wait() {
            tracing::warn!(pid = child.id(), error = %e, "cannot reap a keeper that failed to start");
        }
        return Err(io::Error::other(format!(
            "the keeper did not start: {}",
            err.trim()
        )));
    }
    // From here it is in a session of its own, and the reaper sweeps it when it ends: it
    // cannot end before it is handed what to keep, so its PID is still its own here.
    let keeper = pidfd_open(child.id() as libc::pid_t)?;
    drop(child);
    let mut flags = 0;
    let mut fds: Vec<RawFd> = Vec::new();
    for (bit, fd) in [
        (HAS_TTY, &handed.tty),
        (HAS_STDIN, &handed.stdin),
        (HAS_LOG, &handed.log),
        (HAS_OUT, &handed.stdout),
        (HAS_ERR, &handed.stderr),
    ] {
        if let Some(fd) = fd {
            flags |= bit;
            fds.push(fd.as_raw_fd());
        }
    }
    let conn = connect(&path)?;
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        conn.as_raw_fd(),
        &[io::IoSlice::new(&[b'P', flags])],
        &cmsg,
        MsgFlags::empty(),
        None,
    )?;
    expect_ok(conn)?;
    Ok(keeper)
}

/// Copies of what the keeper of `id` (init `pid`) holds.
pub fn take_back(dir: &Path, id: &str, pid: u32) -> io::Result<Kept> {
    let conn = connect(&socket_path(dir, id, pid))?;
    // Whoever listens on the keeper's socket is the keeper; its end is watched from here.
    let keeper = nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .and_then(|c| pidfd_open(c.pid()).ok());
    (&conn).write_all(b"G")?;
    let (data, fds) = receive(conn.as_fd(), 2)?;
    let flags = data
        .first()
        .copied()
        .ok_or_else(|| io::Error::other("the keeper closed the connection without an answer"))?;
    let mut fds = fds.into_iter();
    let mut kept = Kept {
        logs: flags & HAS_LOG != 0,
        keeper,
        ..Kept::default()
    };
    if flags & HAS_TTY != 0 {
        kept.tty = fds.next();
    }
    if flags & HAS_STDIN != 0 {
        kept.stdin = fds.next();
    }
    Ok(kept)
}

/// Makes the keeper of `id` close its copy of the container's stdin.
pub fn close_stdin(dir: &Path, id: &str, pid: u32) -> io::Result<()> {
    let conn = connect(&socket_path(dir, id, pid))?;
    (&conn).write_all(b"C")?;
    expect_ok(conn)
}

/// Removes sockets in `dir` that no keeper listens on any more (a keeper killed outright).
pub fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "sock")
            && UnixStream::connect(&p).is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
        {
            if let Err(e) = std::fs::remove_file(&p) {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove a dead keeper's socket");
            }
        }
    }
}

fn connect(path: &Path) -> io::Result<UnixStream> {
    let conn = UnixStream::connect(path)
        .map_err(|e| io::Error::new(e.kind(), format!("keeper {}: {e}", path.display())))?;
    conn.set_read_timeout(Some(TIMEOUT))?;
    conn.set_write_timeout(Some(TIMEOUT))?;
    Ok(conn)
}

fn expect_ok(mut conn: UnixStream) -> io::Result<()> {
    let mut b = [0u8; 1];
    conn.read_exact(&mut b)?;
    if b[0] != b'k' {
        return Err(io::Error::other("the keeper refused the request"));
    }
    Ok(())
}

fn receive(sock: BorrowedFd<'_>, max: usize) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    super::fd::recv_fds(sock, 16, max)
}

// ------------------------------------------------------------------ keeper side

/// `berthd keep-stdio SOCKET PID`: the keeper's whole life.
pub fn run(args: &[String]) -> std::process::ExitCode {
    let (Some(path), Some(pid)) = (args.first(), args.get(1)) else {
        eprintln!("usage: berthd {SUBCOMMAND} SOCKET PID");
        return std::process::ExitCode::from(2);
    };
    match keep(Path::new(path), pid) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd {SUBCOMMAND}: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn keep(path: &Path, pid: &str) -> io::Result<()> {
    let pid: libc::pid_t = pid
        .parse()
        .map_err(|_| io::Error::other(format!("not a process ID: {pid:?}")))?;
    // Out of the daemon's session and process group: signals meant for the daemon (a ctrl-c
    // at its terminal, a kill of its group) do not end the keeper.
    nix::unistd::setsid()?;
    let pidfd = pidfd_open(pid)?;
    // A socket left by a killed keeper of the same name; none is the usual case, and one that
    // cannot be removed makes the bind below fail with the reason.
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    let _unlink = Unlink(path.to_path_buf());
    // The daemon waits for this line; then nothing else is written anywhere.
    println!("ready");
    io::stdout().flush()?;
    quiet_stdio();
    let mut copier = None;
    let held = hold(&listener, pidfd.as_fd(), &mut copier);
    if let Some(copier) = copier {
        // Bounded: the copier drains for at most logs::DRAIN after the init's end.
        let copied = copier
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the log copier panicked")));
        copied?;
    }
    held
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return Err(io::Error::other(format!(
            "cannot watch process {pid}: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: the descriptor was just returned to us and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// A thread copying the container's output into its log.
type Copier = std::thread::JoinHandle<io::Result<()>>;

/// Serves requests until the process behind `pidfd` ends; the first `P` with a log starts
/// the copier.
fn hold(
    listener: &UnixListener,
    pidfd: BorrowedFd<'_>,
    copier: &mut Option<Copier>,
) -> io::Result<()> {
    let mut held = Kept::default();
    loop {
        let mut polled = [
            nix::poll::PollFd::new(listener.as_fd(), nix::poll::PollFlags::POLLIN),
            nix::poll::PollFd::new(pidfd, nix::poll::PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut polled, nix::poll::PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let ended = polled[1].revents().is_some_and(|r| !r.is_empty());
        if ended {
            return Ok(());
        }
        if let Ok((conn, _)) = listener.accept() {
            // One slow or broken client must not stop the keeper: one whose timeouts cannot
            // be set is not served, and a failed exchange is that client's alone (the keeper
            // has no log; the daemon sees its side of the failure).
            if conn.set_read_timeout(Some(TIMEOUT)).is_ok()
                && conn.set_write_timeout(Some(TIMEOUT)).is_ok()
            {
                let _ = serve(&conn, &mut held, pidfd, copier);
            }
        }
    }
}

fn serve(
    conn: &UnixStream,
    held: &mut Kept,
    init: BorrowedFd<'_>,
    copier: &mut Option<Copier>,
) -> io::Result<()> {
    let (data, mut fds) = receive(conn.as_fd(), MAX_FDS)?;
    match data.first() {
        Some(b'P') => {
            let flags = data.get(1).copied().unwrap_or(0);
            let mut it = fds.drain(..);
            let mut next = |bit: u8| if flags & bit != 0 { it.next() } else { None };
            held.tty = next(HAS_TTY);
            held.stdin = next(HAS_STDIN);
            let log = next(HAS_LOG);
            let sources = super::logs::Sources {
                stdout: next(HAS_OUT),
                stderr: next(HAS_ERR),
                // Its own copy: the held one goes back to the daemon for input and resizes.
                tty: held.tty.as_ref().map(|t| t.try_clone()).transpose()?,
            };
            if let (Some(log), None) = (log, copier.as_ref()) {
                let init = init.try_clone_to_owned()?;
                let thread = std::thread::spawn(move || {
                    super::logs::copy(sources, std::fs::File::from(log), Some(init.as_fd()), || {})
                });
                held.logs = true;
                *copier = Some(thread);
            }
            (&*conn).write_all(b"k")
        }
        Some(b'G') => {
            let mut flags = if held.logs { HAS_LOG } else { 0 };
            let mut raw = Vec::new();
            if let Some(t) = &held.tty {
                flags |= HAS_TTY;
                raw.push(t.as_raw_fd());
            }
            if let Some(s) = &held.stdin {
                flags |= HAS_STDIN;
                raw.push(s.as_raw_fd());
            }
            let cmsg = [ControlMessage::ScmRights(&raw)];
            let cmsg: &[ControlMessage] = if raw.is_empty() { &[] } else { &cmsg };
            sendmsg::<()>(
                conn.as_raw_fd(),
                &[io::IoSlice::new(&[flags])],
                cmsg,
                MsgFlags::empty(),
                None,
            )?;
            Ok(())
        }
        Some(b'C') => {
            held.stdin = None;
            (&*conn).write_all(b"k")
        }
        _ => Err(io::Error::other("unknown request")),
    }
}

/// Points stdio at /dev/null: the daemon that read the ready line may be gone.
fn quiet_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..=2 {
            // Nothing is written to stdio from here on: an fd left as it was costs nothing.
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
}

struct Unlink(PathBuf);

impl Drop for Unlink {
    fn drop(&mut self) {
        // The keeper is ending and has no log; a socket left behind is refused on connect
        // and swept by the daemon (`sweep`).
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths_carry_the_short_id_and_the_pid() {
        let p = socket_path(Path::new("/run/berth/keep"), &"ab".repeat(32), 4242);
        assert_eq!(p, Path::new("/run/berth/keep/abababababab.4242.sock"));
    }

    fn read_some(fd: &OwnedFd) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let n = nix::unistd::read(fd.as_raw_fd(), &mut buf).expect("read");
        buf[..n].to_vec()
    }

    /// The daemon's side against a keeper on a thread: hand over, take back, close stdin, and
    /// the keeper ends with the process it watches.
    #[test]
    fn a_keeper_holds_hands_back_and_ends_with_the_container() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut init = Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let pid = init.id();
        let id = "c0ffee".repeat(10);
        let listener = UnixListener::bind(socket_path(dir.path(), &id, pid)).expect("bind");
        let pidfd = pidfd_open(pid as libc::pid_t).expect("pidfd");
        let keeper = std::thread::spawn(move || hold(&listener, pidfd.as_fd(), &mut None));

        let (stdin_r, stdin_w) = nix::unistd::pipe().expect("pipe");
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let conn = connect(&socket_path(dir.path(), &id, pid)).expect("connect");
        let fds = [pty.master.as_raw_fd(), stdin_w.as_raw_fd()];
        sendmsg::<()>(
            conn.as_raw_fd(),
            &[io::IoSlice::new(&[b'P', HAS_TTY | HAS_STDIN])],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .expect("hand over");
        expect_ok(conn).expect("held");
        // The daemon goes: its copies close. The terminal and the pipe stay open.
        drop((pty.master, stdin_w));

        let kept = take_back(dir.path(), &id, pid).expect("take back");
        let (tty, stdin) = (kept.tty.expect("tty"), kept.stdin.expect("stdin"));
        nix::unistd::write(&stdin, b"in").expect("write stdin");
        assert_eq!(read_some(&stdin_r), b"in");
        nix::unistd::write(&pty.slave, b"out").expect("write slave");
        assert_eq!(read_some(&tty), b"out");

        // StdinOnce: once the keeper's copy and ours are closed, the container reads the end.
        close_stdin(dir.path(), &id, pid).expect("close stdin");
        drop(stdin);
        assert_eq!(read_some(&stdin_r), b"");
        let again = take_back(dir.path(), &id, pid).expect("take back again");
        assert!(again.tty.is_some() && again.stdin.is_none());

        init.kill().expect("kill");
        init.wait().expect("reap");
        keeper
            .join()
            .expect("keeper thread")
            .expect("keeper ends cleanly");
    }
}
