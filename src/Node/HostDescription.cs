using Shoal.Agent;
using Shoal.Api;
using Shoal.DockerApi;

namespace Shoal.Node;

/// <summary>What this host is, as the node reports it: the machine's description with the configured hostname.</summary>
internal sealed class HostDescription(string? hostname) : NodeDescriptionProvider
{
    public string Hostname { get; } = string.IsNullOrWhiteSpace(hostname) ? Environment.MachineName : hostname.Trim();

    /// <summary>
    /// The host facts <c>/info</c>, <c>/version</c> and every ping report, read once: they do not change while the
    /// process runs, and the docker CLI pings before each command.
    /// </summary>
    public LocalNodeInfo Facts => _facts ??= new LocalNodeInfo
    {
        Hostname = Hostname,
        NCPU = Environment.ProcessorCount,
        MemTotal = MemoryBytes(),
        OperatingSystem = OperatingSystemPrettyName(),
        KernelVersion = Environment.OSVersion.Version.ToString(),
        Architecture = ArchitectureName(System.Runtime.InteropServices.RuntimeInformation.OSArchitecture),
        Version = EngineVersion(),
    };

    private LocalNodeInfo? _facts;

    public override NodeDescription Describe()
    {
        var description = base.Describe();
        description.Hostname = Hostname;
        return description;
    }

    /// <summary>The PRETTY_NAME of /etc/os-release (as Docker's <c>/info</c> shows it), else the runtime's description.</summary>
    private static string OperatingSystemPrettyName()
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/os-release"))
            {
                if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))
                {
                    return line["PRETTY_NAME=".Length..].Trim('"');
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return System.Runtime.InteropServices.RuntimeInformation.OSDescription;
    }
}
