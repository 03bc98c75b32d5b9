namespace Shoal.Api.Validation;

/// <summary>Bounds that specs are validated against (SwarmKit's and moby's values unless a comment says otherwise).</summary>
public static class SpecLimits
{
    /// <summary>Longest service, network or node name: one DNS label.</summary>
    public const int MaxDnsLabelLength = 63;

    /// <summary>Longest secret or config name.</summary>
    public const int MaxSecretOrConfigNameLength = 64;

    /// <summary>Largest secret or config payload, inclusive: 500 KiB.</summary>
    public const int MaxSecretOrConfigSize = 500 * 1024;

    /// <summary>
    /// Largest service spec, protobuf-encoded: 512 KiB (Shoal's bound). A service carries its spec and its previous
    /// spec, and every task a copy of its template, so one oversized spec would be multiplied through the store and
    /// the Raft log; large data belongs in configs or secrets.
    /// </summary>
    public const int MaxServiceSpecSize = 512 * 1024;

    /// <summary>Smallest non-zero CPU limit or reservation: 0.001 CPU, in units of 1e-9 CPUs.</summary>
    public const long MinNanoCpus = 1_000_000;

    /// <summary>Smallest non-zero memory limit or reservation: 4 MiB.</summary>
    public const long MinMemoryBytes = 4L * 1024 * 1024;

    /// <summary>Longest repository name in an image reference (domain and path), as the registry reference grammar has it.</summary>
    public const int MaxImageNameLength = 255;

    /// <summary>Range of <c>oom_score_adj</c> the kernel accepts.</summary>
    public const long MinOomScoreAdj = -1000;

    public const long MaxOomScoreAdj = 1000;

    /// <summary>Smallest non-zero health-check interval, timeout, start period or start interval.</summary>
    public static readonly TimeSpan MinHealthCheckDuration = TimeSpan.FromMilliseconds(1);

    /// <summary>Shortest node certificate validity a cluster may ask for.</summary>
    public static readonly TimeSpan MinNodeCertExpiry = TimeSpan.FromHours(1);

    /// <summary>Shortest non-zero dispatcher heartbeat period (0 means the default).</summary>
    public static readonly TimeSpan MinDispatcherHeartbeatPeriod = TimeSpan.FromSeconds(1);
}
