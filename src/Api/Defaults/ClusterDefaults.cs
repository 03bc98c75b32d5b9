using Google.Protobuf.WellKnownTypes;

namespace Shoal.Api.Defaults;

/// <summary>
/// Defaults of the replicated cluster-wide settings (DESIGN §13); a zero or absent field of a
/// <see cref="ClusterSpec"/> means the value here.
/// </summary>
public static class ClusterDefaults
{
    /// <summary>SwarmKit's name for the one cluster object.</summary>
    public const string Name = "default";

    /// <summary>Terminated tasks kept per slot.</summary>
    public const long TaskHistoryRetentionLimit = 5;

    /// <summary>Raft entries between store snapshots.</summary>
    public const ulong SnapshotInterval = 10_000;

    public const ulong KeepOldSnapshots = 0;

    /// <summary>Entries kept after a snapshot for followers that lag.</summary>
    public const ulong LogEntriesForSlowFollowers = 500;

    /// <summary>In ticks of the Raft clock.</summary>
    public const uint HeartbeatTick = 1;

    /// <summary>In ticks of the Raft clock; randomized up to twice this.</summary>
    public const uint ElectionTick = 10;

    public static readonly TimeSpan DispatcherHeartbeatPeriod = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan NodeCertExpiry = TimeSpan.FromDays(90);

    /// <summary>A cluster spec named "default" with every setting at its default value.</summary>
    public static ClusterSpec NewClusterSpec() => new()
    {
        Annotations = new Annotations { Name = Name },
        Orchestration = new OrchestrationConfig { TaskHistoryRetentionLimit = TaskHistoryRetentionLimit },
        Raft = new RaftConfig
        {
            SnapshotInterval = SnapshotInterval,
            KeepOldSnapshots = KeepOldSnapshots,
            LogEntriesForSlowFollowers = LogEntriesForSlowFollowers,
            HeartbeatTick = HeartbeatTick,
            ElectionTick = ElectionTick,
        },
        Dispatcher = new DispatcherConfig { HeartbeatPeriod = Duration.FromTimeSpan(DispatcherHeartbeatPeriod) },
        CaConfig = new CaConfig { NodeCertExpiry = Duration.FromTimeSpan(NodeCertExpiry) },
        TaskDefaults = new TaskDefaults(),
        EncryptionConfig = new EncryptionConfig(),
    };
}
