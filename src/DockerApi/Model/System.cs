using System.Text.Json.Serialization;

namespace Shoal.DockerApi.Model;

/// <summary>A manager as <c>/info</c> lists it (Docker's <c>swarm.Peer</c>).</summary>
public sealed class Peer
{
    public string NodeID { get; set; } = string.Empty;

    public string Addr { get; set; } = string.Empty;
}

/// <summary>The swarm part of <c>/info</c> (Docker's <c>swarm.Info</c>).</summary>
public sealed class SwarmInfo
{
    public string NodeID { get; set; } = string.Empty;

    public string NodeAddr { get; set; } = string.Empty;

    /// <summary>"inactive", "pending", "active", "error" or "locked".</summary>
    public string LocalNodeState { get; set; } = "inactive";

    public bool ControlAvailable { get; set; }

    public string Error { get; set; } = string.Empty;

    public List<Peer>? RemoteManagers { get; set; }

    public int Nodes { get; set; }

    public int Managers { get; set; }

    /// <summary>Present on managers.</summary>
    public ClusterInfo? Cluster { get; set; }
}

/// <summary>The plugins <c>/info</c> reports.</summary>
public sealed class PluginsInfo
{
    public List<string> Volume { get; set; } = [];

    public List<string> Network { get; set; } = [];

    public List<string> Authorization { get; set; } = [];

    public List<string> Log { get; set; } = [];
}

/// <summary><c>GET /info</c> (the fields of Docker's <c>system.Info</c> a swarm node can answer).</summary>
public sealed class Info
{
    public string ID { get; set; } = string.Empty;

    public int Containers { get; set; }

    public int ContainersRunning { get; set; }

    public int ContainersPaused { get; set; }

    public int ContainersStopped { get; set; }

    public int Images { get; set; }

    public string Driver { get; set; } = string.Empty;

    public PluginsInfo Plugins { get; set; } = new();

    public bool MemoryLimit { get; set; }

    public bool SwapLimit { get; set; }

    public bool Debug { get; set; }

    public int NFd { get; set; }

    public int NGoroutines { get; set; }

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? SystemTime { get; set; }

    public string LoggingDriver { get; set; } = string.Empty;

    public string CgroupDriver { get; set; } = string.Empty;

    public string KernelVersion { get; set; } = string.Empty;

    public string OperatingSystem { get; set; } = string.Empty;

    public string OSVersion { get; set; } = string.Empty;

    public string OSType { get; set; } = "linux";

    public string Architecture { get; set; } = string.Empty;

    public int NCPU { get; set; }

    public long MemTotal { get; set; }

    public string DockerRootDir { get; set; } = string.Empty;

    public string Name { get; set; } = string.Empty;

    public List<string> Labels { get; set; } = [];

    public bool ExperimentalBuild { get; set; }

    public string ServerVersion { get; set; } = string.Empty;

    public string DefaultRuntime { get; set; } = string.Empty;

    public SwarmInfo Swarm { get; set; } = new();

    public bool LiveRestoreEnabled { get; set; }

    public List<string> SecurityOptions { get; set; } = [];

    public List<string>? Warnings { get; set; }
}

/// <summary>The platform line of <c>docker version</c>'s server part.</summary>
public sealed class PlatformName
{
    public string Name { get; set; } = string.Empty;
}

/// <summary>One component of the server in <c>/version</c>.</summary>
public sealed class ComponentVersion
{
    public string Name { get; set; } = string.Empty;

    public string Version { get; set; } = string.Empty;

    public Dictionary<string, string>? Details { get; set; }
}

/// <summary><c>GET /version</c> (Docker's <c>types.Version</c>).</summary>
public sealed class SystemVersion
{
    public PlatformName Platform { get; set; } = new();

    public List<ComponentVersion> Components { get; set; } = [];

    public string Version { get; set; } = string.Empty;

    public string ApiVersion { get; set; } = string.Empty;

    public string MinAPIVersion { get; set; } = string.Empty;

    public string GitCommit { get; set; } = string.Empty;

    public string GoVersion { get; set; } = string.Empty;

    public string Os { get; set; } = string.Empty;

    public string Arch { get; set; } = string.Empty;

    public string KernelVersion { get; set; } = string.Empty;

    public bool Experimental { get; set; }

    public string BuildTime { get; set; } = string.Empty;
}

/// <summary>The body of every error answer; the CLI prints "Error response from daemon: " and the message.</summary>
public sealed class ErrorResponse
{
    [JsonPropertyName("message")]
    public string Message { get; set; } = string.Empty;
}
