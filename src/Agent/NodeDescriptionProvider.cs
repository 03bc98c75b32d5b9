using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using Shoal.Api;

namespace Shoal.Agent;

/// <summary>
/// What this node is, read from the host: hostname, platform (in Docker's words: <c>linux</c>, <c>x86_64</c>), CPUs
/// and memory, and the engine version. Sent at every registration and stored on the node object.
/// </summary>
public class NodeDescriptionProvider
{
    /// <summary>The engine name reported with the version.</summary>
    public const string EngineName = "shoal";

    /// <summary>Describes the host now.</summary>
    public virtual NodeDescription Describe() => new()
    {
        Hostname = Environment.MachineName,
        Platform = new Platform { Os = OperatingSystemName(), Architecture = ArchitectureName(RuntimeInformation.OSArchitecture) },
        Resources = new Resources { NanoCpus = Environment.ProcessorCount * 1_000_000_000L, MemoryBytes = MemoryBytes() },
        Engine = new EngineDescription { EngineVersion = EngineVersion() },
    };

    /// <summary>The OS as Docker names it.</summary>
    public static string OperatingSystemName() =>
        OperatingSystem.IsLinux() ? "linux"
        : OperatingSystem.IsWindows() ? "windows"
        : OperatingSystem.IsMacOS() ? "darwin"
        : OperatingSystem.IsFreeBSD() ? "freebsd"
        : RuntimeInformation.OSDescription;

    /// <summary>The architecture as <c>uname -m</c> (and Docker) names it.</summary>
    public static string ArchitectureName(Architecture architecture) => architecture switch
    {
        Architecture.X64 => "x86_64",
        Architecture.X86 => "i386",
        Architecture.Arm64 => "aarch64",
        Architecture.Arm => "armv7l",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64le",
        Architecture.RiscV64 => "riscv64",
        _ => architecture.ToString().ToLowerInvariant(),
    };

    /// <summary>Total memory of the host: <c>MemTotal</c> of /proc/meminfo where there is one, else what the runtime sees.</summary>
    public static long MemoryBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                {
                    var kib = line["MemTotal:".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                    return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            // Not Linux, or a restricted /proc: fall back to the runtime's view.
        }

        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>Shoal's version (e.g. "0.1.0"), from this assembly's informational version: the ENGINE VERSION column of
    /// <c>node ls</c>, one word as Docker's is, so scripts that split the columns keep working.</summary>
    public static string EngineVersion()
    {
        var version = typeof(NodeDescriptionProvider).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus > 0 ? version[..plus] : version;
    }
}
