using System.Text.Json.Serialization;

namespace Shoal.DockerApi.Model;

/// <summary>The swarm as <c>/info</c> shows it (Docker's <c>swarm.ClusterInfo</c>).</summary>
public class ClusterInfo
{
    public string ID { get; set; } = string.Empty;

    public ObjectVersion Version { get; set; } = new();

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? CreatedAt { get; set; }

    [JsonConverter(typeof(Rfc3339TimeConverter))]
    public DateTimeOffset? UpdatedAt { get; set; }

    public Spec Spec { get; set; } = new();

    public TLSInfo TLSInfo { get; set; } = new();

    public bool RootRotationInProgress { get; set; }

    public List<string>? DefaultAddrPool { get; set; }

    public uint SubnetSize { get; set; }

    public uint DataPathPort { get; set; }
}

/// <summary>The swarm as <c>GET /swarm</c> shows it to managers: the cluster and its join tokens.</summary>
public sealed class Swarm : ClusterInfo
{
    public JoinTokens JoinTokens { get; set; } = new();
}

public sealed class JoinTokens
{
    public string Worker { get; set; } = string.Empty;

    public string Manager { get; set; } = string.Empty;
}

/// <summary>
/// The cluster-wide settings (Docker's <c>swarm.Spec</c>). What <c>GET /swarm</c> returns can be sent back unchanged to
/// <c>POST /swarm/update</c>; zero and absent values there mean "keep the current setting".
/// </summary>
public sealed class Spec
{
    public string? Name { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public OrchestrationConfig Orchestration { get; set; } = new();

    public RaftConfig Raft { get; set; } = new();

    public DispatcherConfig Dispatcher { get; set; } = new();

    public CAConfig CAConfig { get; set; } = new();

    public TaskDefaults TaskDefaults { get; set; } = new();

    public EncryptionConfig EncryptionConfig { get; set; } = new();
}

public sealed class OrchestrationConfig
{
    /// <summary>Terminated tasks kept per slot; null = unchanged/default.</summary>
    public long? TaskHistoryRetentionLimit { get; set; }
}

public sealed class RaftConfig
{
    public ulong SnapshotInterval { get; set; }

    public ulong? KeepOldSnapshots { get; set; }

    public ulong LogEntriesForSlowFollowers { get; set; }

    public int ElectionTick { get; set; }

    public int HeartbeatTick { get; set; }
}

public sealed class DispatcherConfig
{
    /// <summary>Nanoseconds.</summary>
    public long HeartbeatPeriod { get; set; }
}

public sealed class CAConfig
{
    /// <summary>Nanoseconds.</summary>
    public long NodeCertExpiry { get; set; }

    public List<ExternalCA>? ExternalCAs { get; set; }

    /// <summary>PEM; empty = the swarm's own root CA.</summary>
    public string? SigningCACert { get; set; }

    /// <summary>PEM; write-only (never returned).</summary>
    public string? SigningCAKey { get; set; }

    public ulong ForceRotate { get; set; }
}

public sealed class ExternalCA
{
    /// <summary>"cfssl".</summary>
    public string Protocol { get; set; } = "cfssl";

    public string URL { get; set; } = string.Empty;

    public Dictionary<string, string>? Options { get; set; }

    /// <summary>PEM.</summary>
    public string? CACert { get; set; }
}

public sealed class TaskDefaults
{
    public Driver? LogDriver { get; set; }
}

/// <summary>A named driver with options (log drivers, secret drivers, network drivers).</summary>
public sealed class Driver
{
    public string Name { get; set; } = string.Empty;

    public Dictionary<string, string>? Options { get; set; }
}

public sealed class EncryptionConfig
{
    public bool AutoLockManagers { get; set; }
}

/// <summary>The body of <c>POST /swarm/init</c>.</summary>
public sealed class SwarmInitRequest
{
    public string? ListenAddr { get; set; }

    public string? AdvertiseAddr { get; set; }

    public string? DataPathAddr { get; set; }

    public uint DataPathPort { get; set; }

    public bool ForceNewCluster { get; set; }

    public Spec Spec { get; set; } = new();

    public bool AutoLockManagers { get; set; }

    /// <summary>One of <see cref="NodeAvailabilities"/>, or empty for active.</summary>
    public string? Availability { get; set; }

    public List<string>? DefaultAddrPool { get; set; }

    public uint SubnetSize { get; set; }
}

/// <summary>The body of <c>POST /swarm/join</c>.</summary>
public sealed class SwarmJoinRequest
{
    public string? ListenAddr { get; set; }

    public string? AdvertiseAddr { get; set; }

    public string? DataPathAddr { get; set; }

    public List<string> RemoteAddrs { get; set; } = [];

    public string JoinToken { get; set; } = string.Empty;

    /// <summary>One of <see cref="NodeAvailabilities"/>, or empty for active.</summary>
    public string? Availability { get; set; }
}

/// <summary>The answer of <c>GET /swarm/unlockkey</c>.</summary>
public sealed class UnlockKeyResponse
{
    public string UnlockKey { get; set; } = string.Empty;
}
