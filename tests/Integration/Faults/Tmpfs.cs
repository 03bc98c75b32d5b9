using System.Diagnostics;
using System.Globalization;

namespace Shoal.Integration.Tests.Faults;

/// <summary>
/// A tmpfs of a fixed size mounted on a directory (needs root), to make a data directory run out of space; disposing
/// unmounts it (lazily, so a process still holding a file in it cannot keep it mounted).
/// </summary>
public sealed class Tmpfs : IDisposable
{
    private bool _mounted;

    private Tmpfs(string directory, long bytes)
    {
        Directory = directory;
        Bytes = bytes;
    }

    /// <summary>Whether this process may mount (runs as root).</summary>
    public static bool CanMount => Environment.UserName == "root";

    /// <summary>Where it is mounted.</summary>
    public string Directory { get; }

    /// <summary>Its size.</summary>
    public long Bytes { get; }

    /// <summary>Mounts a tmpfs of <paramref name="bytes"/> on <paramref name="directory"/> (created when missing).</summary>
    /// <exception cref="InvalidOperationException">mount failed; the message has its output.</exception>
    public static Tmpfs Mount(string directory, long bytes)
    {
        System.IO.Directory.CreateDirectory(directory);
        var tmpfs = new Tmpfs(directory, bytes);
        Run("mount", "-t", "tmpfs", "-o", string.Create(CultureInfo.InvariantCulture, $"size={bytes},mode=0700"), "tmpfs", directory);
        tmpfs._mounted = true;
        return tmpfs;
    }

    /// <summary>Writes zeros into <paramref name="path"/> until the file system is full (down to the last byte);
    /// returns the bytes written.</summary>
    public static long Fill(string path)
    {
        var chunk = new byte[1024 * 1024];
        long written = 0;
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write);
        for (var size = chunk.Length; size > 0;)
        {
            try
            {
                RandomAccess.Write(handle, chunk.AsSpan(0, size), written);
                written += size;
            }
            catch (IOException)
            {
                // ENOSPC for this size: what is left is smaller. (A partial write is not counted; the next one overwrites it.)
                size /= 2;
            }
        }

        return written;
    }

    /// <summary>Free bytes left on the file system holding <paramref name="directory"/>.</summary>
    public static long FreeBytes(string directory) => new DriveInfo(directory).AvailableFreeSpace;

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_mounted)
        {
            _mounted = false;
            Run("umount", "-l", Directory);
        }
    }

    private static void Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {output.Trim()}");
        }
    }
}
