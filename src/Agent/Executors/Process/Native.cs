using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;

namespace Shoal.Agent.Executors.Process;

/// <summary>
/// The libc calls the process executor needs: posix_spawn (so the shim starts in its own session with every signal at
/// its default and an empty mask — <c>Process.Start</c> would leave SIGPIPE ignored in it, reference/dotnet-spikes.md
/// §4), kill, waitpid (.NET reaps only the children it started itself) and geteuid.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class Native
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private const short SpawnSetSigDef = 0x04;
    private const short SpawnSetSigMask = 0x08;
    private const short SpawnSetSid = 0x80;
    private const int ReadOnly = 0;
    private const int WriteOnly = 1;
    private const int Create = 0x40;
    private const int Truncate = 0x200;
    private const uint PrivateFileMode = 0x180;
    private const int NoHang = 1;
    private const int NoSuchProcess = 3;

    /// <summary>
    /// Starts <paramref name="path"/> with <paramref name="arguments"/> (argv[0] included) and exactly
    /// <paramref name="environment"/>, in a new session (so in a process group of its own, led by it), stdin on
    /// /dev/null, stdout and stderr on /dev/null or both on <paramref name="outputPath"/> (created or truncated, 0600),
    /// in <paramref name="workingDirectory"/> when given. Returns its process ID.
    /// </summary>
    public static int Spawn(string path, IReadOnlyList<string> arguments, IReadOnlyList<string> environment, string? workingDirectory = null, string? outputPath = null)
    {
        // Opaque glibc structures, allocated generously (posix_spawnattr_t is 336 bytes, file actions 80, sigset_t 128).
        var attributes = Marshal.AllocHGlobal(1024);
        var actions = Marshal.AllocHGlobal(1024);
        var defaults = Marshal.AllocHGlobal(256);
        var mask = Marshal.AllocHGlobal(256);
        var strings = new List<IntPtr>();
        var attributesReady = false;
        var actionsReady = false;
        try
        {
            Check(PosixSpawnAttrInit(attributes), "posix_spawnattr_init");
            attributesReady = true;
            Check(PosixSpawnFileActionsInit(actions), "posix_spawn_file_actions_init");
            actionsReady = true;
            _ = SigFillSet(defaults);
            _ = SigEmptySet(mask);
            Check(PosixSpawnAttrSetSigDefault(attributes, defaults), "posix_spawnattr_setsigdefault");
            Check(PosixSpawnAttrSetSigMask(attributes, mask), "posix_spawnattr_setsigmask");
            Check(PosixSpawnAttrSetFlags(attributes, SpawnSetSid | SpawnSetSigDef | SpawnSetSigMask), "posix_spawnattr_setflags");
            var devNull = Utf8("/dev/null");
            Check(PosixSpawnFileActionsAddOpen(actions, 0, devNull, ReadOnly, 0), "posix_spawn_file_actions_addopen");
            if (outputPath is null)
            {
                Check(PosixSpawnFileActionsAddOpen(actions, 1, devNull, WriteOnly, 0), "posix_spawn_file_actions_addopen");
                Check(PosixSpawnFileActionsAddOpen(actions, 2, devNull, WriteOnly, 0), "posix_spawn_file_actions_addopen");
            }
            else
            {
                Check(PosixSpawnFileActionsAddOpen(actions, 1, Utf8(outputPath), WriteOnly | Create | Truncate, PrivateFileMode), "posix_spawn_file_actions_addopen");
                Check(PosixSpawnFileActionsAddDup2(actions, 1, 2), "posix_spawn_file_actions_adddup2");
            }

            if (workingDirectory is not null)
            {
                Check(PosixSpawnFileActionsAddChdir(actions, Utf8(workingDirectory)), "posix_spawn_file_actions_addchdir_np");
            }

            var argv = Pointers(arguments, strings);
            var envp = Pointers(environment, strings);
            var error = PosixSpawn(out var pid, Utf8(path), actions, attributes, argv, envp);
            if (error != 0)
            {
                throw new IOException($"cannot start {path}: posix_spawn failed with errno {error}");
            }

            return pid;
        }
        finally
        {
            if (actionsReady)
            {
                _ = PosixSpawnFileActionsDestroy(actions);
            }

            if (attributesReady)
            {
                _ = PosixSpawnAttrDestroy(attributes);
            }

            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }

            Marshal.FreeHGlobal(attributes);
            Marshal.FreeHGlobal(actions);
            Marshal.FreeHGlobal(defaults);
            Marshal.FreeHGlobal(mask);
        }
    }

    /// <summary>Sends <paramref name="signal"/> to the process group <paramref name="pgid"/>; false when it no longer exists.</summary>
    public static bool KillGroup(int pgid, int signal)
    {
        if (pgid <= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(pgid), pgid, "refusing to signal process group <= 1");
        }

        if (Kill(-pgid, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == NoSuchProcess ? false : throw new IOException($"cannot send signal {signal} to process group {pgid} (errno {errno})");
    }

    /// <summary>Sends <paramref name="signal"/> to the process <paramref name="pid"/>; false when it no longer exists.</summary>
    public static bool KillProcess(int pid, int signal)
    {
        if (pid <= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(pid), pid, "refusing to signal process <= 1");
        }

        if (Kill(pid, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == NoSuchProcess ? false : throw new IOException($"cannot send signal {signal} to process {pid} (errno {errno})");
    }

    /// <summary>Reaps <paramref name="pid"/> if it is our exited child; does nothing otherwise.</summary>
    public static void Reap(int pid) => _ = WaitPid(pid, out _, NoHang);

    /// <summary>
    /// Reaps our child <paramref name="pid"/> if it has exited: true with its exit code (128 + the signal when a signal
    /// ended it); false while it runs. A pid that is not (or no longer) our child counts as ended with code -1.
    /// </summary>
    public static bool TryReap(int pid, out int exitCode)
    {
        var result = WaitPid(pid, out var status, NoHang);
        if (result == 0)
        {
            exitCode = 0;
            return false;
        }

        exitCode = result != pid ? -1
            : (status & 0x7f) == 0 ? (status >> 8) & 0xff
            : 128 + (status & 0x7f);
        return true;
    }

    /// <summary>Whether the agent runs as root.</summary>
    public static bool IsRoot => GetEuid() == 0;

    private static IntPtr[] Pointers(IReadOnlyList<string> values, List<IntPtr> owned)
    {
        var pointers = new IntPtr[values.Count + 1];
        for (var i = 0; i < values.Count; i++)
        {
            pointers[i] = Marshal.StringToCoTaskMemUTF8(values[i]);
            owned.Add(pointers[i]);
        }

        return pointers;
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new IOException($"{call} failed with errno {result}");
        }
    }

    private static byte[] Utf8(string value)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        return bytes;
    }

    // DllImport with blittable arguments rather than LibraryImport: the generated stubs need unsafe code, which this
    // project does not allow.
    [DllImport("libc", EntryPoint = "posix_spawn")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawn(out int pid, byte[] path, IntPtr fileActions, IntPtr attributes, IntPtr[] argv, IntPtr[] envp);

    [DllImport("libc", EntryPoint = "posix_spawnattr_init")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnAttrInit(IntPtr attributes);

    [DllImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnAttrDestroy(IntPtr attributes);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnAttrSetFlags(IntPtr attributes, short flags);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnAttrSetSigDefault(IntPtr attributes, IntPtr signals);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnAttrSetSigMask(IntPtr attributes, IntPtr signals);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnFileActionsInit(IntPtr actions);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnFileActionsDestroy(IntPtr actions);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_addopen")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnFileActionsAddOpen(IntPtr actions, int fd, byte[] path, int flags, uint mode);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnFileActionsAddDup2(IntPtr actions, int fd, int newFd);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_addchdir_np")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int PosixSpawnFileActionsAddChdir(IntPtr actions, byte[] path);

    [DllImport("libc", EntryPoint = "sigfillset")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SigFillSet(IntPtr set);

    [DllImport("libc", EntryPoint = "sigemptyset")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SigEmptySet(IntPtr set);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);

    [DllImport("libc", EntryPoint = "waitpid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int WaitPid(int pid, out int status, int options);

    [DllImport("libc", EntryPoint = "geteuid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern uint GetEuid();
}
