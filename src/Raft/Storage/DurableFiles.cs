using System.Runtime.InteropServices;

namespace Shoal.Raft.Storage;

/// <summary>
/// File-system steps that make the WAL and snapshots durable and private: directories 0700, files 0600, and an fsync
/// of the directory after a file is created, renamed or deleted (without it, the name may be lost in a crash even
/// though the file's data was synced). .NET refuses to open a directory as a file on Unix, so that fsync goes through
/// libc; on Windows there is no directory fsync (NTFS journals its metadata) and it is skipped.
/// </summary>
internal static class DurableFiles
{
    private const UnixFileMode PrivateFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const int ReadOnly = 0;
    private const int LinuxCloseOnExec = 0x80000;
    private const int MacCloseOnExec = 0x1000000;

    /// <summary>
    /// Creates <paramref name="path"/> and its missing parents as 0700 when they do not exist; with
    /// <paramref name="sync"/>, each new directory's parent is synced so that the new name survives a crash.
    /// </summary>
    public static void CreatePrivateDirectory(string path, bool sync = true)
    {
        var missing = new List<string>();
        for (var directory = Path.GetFullPath(path); !Directory.Exists(directory); directory = Path.GetDirectoryName(directory)!)
        {
            missing.Add(directory);
        }

        if (missing.Count == 0)
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, PrivateDirectoryMode);
        }

        if (sync)
        {
            foreach (var directory in missing)
            {
                SyncDirectory(Path.GetDirectoryName(directory)!);
            }
        }
    }

    /// <summary>Creates a new, empty file, 0600 from the moment it exists; fails if it exists.</summary>
    public static void CreatePrivateFile(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFileMode;
        }

        using var stream = new FileStream(path, options);
    }

    /// <summary>Makes the directory's entries (files created, renamed or deleted in it) durable.</summary>
    public static void SyncDirectory(string path)
    {
        int flags;
        if (OperatingSystem.IsLinux())
        {
            flags = ReadOnly | LinuxCloseOnExec;
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            flags = ReadOnly | MacCloseOnExec;
        }
        else
        {
            return;
        }

        var fd = Open(NullTerminatedUtf8(path), flags);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {path} to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {path} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private static byte[] NullTerminatedUtf8(string path)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(path) + 1];
        System.Text.Encoding.UTF8.GetBytes(path, bytes);
        return bytes;
    }

    // DllImport with blittable arguments rather than LibraryImport: the generated stubs need unsafe code, which this
    // project does not allow.
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open(byte[] path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);
}
