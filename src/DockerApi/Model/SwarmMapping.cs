using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Model;

/// <summary>The cluster object and its spec between the protobuf object model and Docker's JSON.</summary>
public static class SwarmMapping
{
    /// <summary>The data-path (VXLAN) port Docker reports when the cluster does not set one.</summary>
    public const uint DefaultDataPathPort = 4789;

    /// <summary>The cluster as <c>/info</c> shows it.</summary>
    public static ClusterInfo ToClusterInfo(Proto.Cluster cluster) => Fill(new ClusterInfo(), cluster);

    /// <summary>The cluster as <c>GET /swarm</c> shows it: with the join tokens.</summary>
    public static Swarm ToSwarm(Proto.Cluster cluster)
    {
        var swarm = Fill(new Swarm(), cluster);
        swarm.JoinTokens = new JoinTokens
        {
            Worker = cluster.RootCa?.JoinTokens?.Worker ?? string.Empty,
            Manager = cluster.RootCa?.JoinTokens?.Manager ?? string.Empty,
        };
        return swarm;
    }

    /// <summary>The Docker view of a cluster spec. Key material is never part of it.</summary>
    public static Spec ToDocker(Proto.ClusterSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new Spec
        {
            Name = spec.Annotations?.Name ?? string.Empty,
            Labels = spec.Annotations is null ? [] : new Dictionary<string, string>(spec.Annotations.Labels),
            Orchestration = new OrchestrationConfig
            {
                TaskHistoryRetentionLimit = spec.Orchestration is { HasTaskHistoryRetentionLimit: true } o ? o.TaskHistoryRetentionLimit : null,
            },
            Raft = spec.Raft is not { } raft ? new RaftConfig() : new RaftConfig
            {
                SnapshotInterval = raft.SnapshotInterval,
                KeepOldSnapshots = raft.HasKeepOldSnapshots ? raft.KeepOldSnapshots : null,
                LogEntriesForSlowFollowers = raft.LogEntriesForSlowFollowers,
                ElectionTick = (int)raft.ElectionTick,
                HeartbeatTick = (int)raft.HeartbeatTick,
            },
            Dispatcher = new DispatcherConfig { HeartbeatPeriod = Nanos(spec.Dispatcher?.HeartbeatPeriod) },
            CAConfig = spec.CaConfig is not { } ca ? new CAConfig() : new CAConfig
            {
                NodeCertExpiry = Nanos(ca.NodeCertExpiry),
                ExternalCAs = ca.ExternalCas.Count == 0 ? null : [.. ca.ExternalCas.Select(e => new ExternalCA
                {
                    Protocol = "cfssl",
                    URL = e.Url,
                    Options = e.Options.Count == 0 ? null : new Dictionary<string, string>(e.Options),
                    CACert = e.CaCert.IsEmpty ? null : e.CaCert.ToStringUtf8(),
                })],
                SigningCACert = ca.SigningCaCert.IsEmpty ? null : ca.SigningCaCert.ToStringUtf8(),
                ForceRotate = ca.ForceRotate,
            },
            TaskDefaults = new TaskDefaults
            {
                LogDriver = spec.TaskDefaults?.LogDriver is { } driver
                    ? new Driver { Name = driver.Name, Options = driver.Options.Count == 0 ? null : new Dictionary<string, string>(driver.Options) }
                    : null,
            },
            EncryptionConfig = new EncryptionConfig { AutoLockManagers = spec.EncryptionConfig?.AutoLockManagers ?? false },
        };
    }

    /// <summary>
    /// <paramref name="current"/> with what <paramref name="spec"/> sets, as Docker merges an update or an init request:
    /// zero and absent values keep the current setting; the force-rotate counter and autolock are always taken.
    /// </summary>
    public static Proto.ClusterSpec Merge(Spec spec, Proto.ClusterSpec current)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(current);
        var merged = current.Clone();
        merged.Annotations ??= new Proto.Annotations();
        merged.Orchestration ??= new Proto.OrchestrationConfig();
        merged.Raft ??= new Proto.RaftConfig();
        merged.Dispatcher ??= new Proto.DispatcherConfig();
        merged.CaConfig ??= new Proto.CaConfig();
        merged.TaskDefaults ??= new Proto.TaskDefaults();
        merged.EncryptionConfig ??= new Proto.EncryptionConfig();

        if (!string.IsNullOrEmpty(spec.Name))
        {
            merged.Annotations.Name = spec.Name;
        }

        if (spec.Labels is { Count: > 0 })
        {
            merged.Annotations.Labels.Clear();
            merged.Annotations.Labels.Add(spec.Labels);
        }

        if (spec.Orchestration?.TaskHistoryRetentionLimit is { } limit)
        {
            merged.Orchestration.TaskHistoryRetentionLimit = limit;
        }

        if (spec.Raft is { } raft)
        {
            if (raft.SnapshotInterval != 0)
            {
                merged.Raft.SnapshotInterval = raft.SnapshotInterval;
            }

            if (raft.KeepOldSnapshots is { } keep)
            {
                merged.Raft.KeepOldSnapshots = keep;
            }

            if (raft.LogEntriesForSlowFollowers != 0)
            {
                merged.Raft.LogEntriesForSlowFollowers = raft.LogEntriesForSlowFollowers;
            }

            if (raft.ElectionTick != 0)
            {
                merged.Raft.ElectionTick = Ticks(raft.ElectionTick, "Raft.ElectionTick");
            }

            if (raft.HeartbeatTick != 0)
            {
                merged.Raft.HeartbeatTick = Ticks(raft.HeartbeatTick, "Raft.HeartbeatTick");
            }
        }

        if (spec.Dispatcher is { HeartbeatPeriod: not 0 } dispatcher)
        {
            merged.Dispatcher.HeartbeatPeriod = DurationOf(dispatcher.HeartbeatPeriod);
        }

        if (spec.CAConfig is { } ca)
        {
            if (ca.NodeCertExpiry != 0)
            {
                merged.CaConfig.NodeCertExpiry = DurationOf(ca.NodeCertExpiry);
            }

            if (ca.ExternalCAs is { Count: > 0 })
            {
                merged.CaConfig.ExternalCas.Clear();
                foreach (var external in ca.ExternalCAs)
                {
                    if (!string.Equals(external.Protocol, "cfssl", StringComparison.OrdinalIgnoreCase))
                    {
                        throw DockerApiException.BadRequest($"invalid protocol \"{external.Protocol}\" of external CA {external.URL}: only \"cfssl\" is supported");
                    }

                    var proto = new Proto.ExternalCa { Protocol = Proto.ExternalCa.Types.Protocol.Cfssl, Url = external.URL };
                    proto.Options.Add(external.Options ?? []);
                    if (!string.IsNullOrEmpty(external.CACert))
                    {
                        proto.CaCert = ByteString.CopyFromUtf8(external.CACert);
                    }

                    merged.CaConfig.ExternalCas.Add(proto);
                }
            }

            if (!string.IsNullOrEmpty(ca.SigningCACert))
            {
                merged.CaConfig.SigningCaCert = ByteString.CopyFromUtf8(ca.SigningCACert);
            }

            if (!string.IsNullOrEmpty(ca.SigningCAKey))
            {
                merged.CaConfig.SigningCaKey = ByteString.CopyFromUtf8(ca.SigningCAKey);
            }

            merged.CaConfig.ForceRotate = ca.ForceRotate;
        }

        if (spec.TaskDefaults?.LogDriver is { } logDriver)
        {
            var driver = new Proto.LogDriver { Name = logDriver.Name };
            driver.Options.Add(logDriver.Options ?? []);
            merged.TaskDefaults.LogDriver = driver;
        }

        merged.EncryptionConfig.AutoLockManagers = spec.EncryptionConfig?.AutoLockManagers ?? false;
        return merged;
    }

    private static T Fill<T>(T info, Proto.Cluster cluster)
        where T : ClusterInfo
    {
        ArgumentNullException.ThrowIfNull(cluster);
        info.ID = cluster.Id;
        info.Version = new ObjectVersion { Index = cluster.Meta?.Version ?? 0 };
        info.CreatedAt = cluster.Meta?.CreatedAt?.ToDateTimeOffset();
        info.UpdatedAt = cluster.Meta?.UpdatedAt?.ToDateTimeOffset();
        info.Spec = ToDocker(cluster.Spec ?? new Proto.ClusterSpec());
        info.TLSInfo = TlsInfoOf(cluster.RootCa);
        info.RootRotationInProgress = cluster.RootCa?.RootRotation is not null;
        info.DefaultAddrPool = cluster.DefaultAddressPool.Count == 0 ? null : [.. cluster.DefaultAddressPool];
        info.SubnetSize = cluster.SubnetSize;
        info.DataPathPort = cluster.VxlanUdpPort == 0 ? DefaultDataPathPort : cluster.VxlanUdpPort;
        return info;
    }

    /// <summary>The trust root of the swarm: its root CA's PEM, raw subject and public key.</summary>
    private static TLSInfo TlsInfoOf(Proto.RootCa? rootCa)
    {
        if (rootCa is null || rootCa.CaCert.IsEmpty)
        {
            return new TLSInfo();
        }

        var pem = rootCa.CaCert.ToStringUtf8();
        using var certificate = X509Certificate2.CreateFromPem(pem);
        return new TLSInfo
        {
            TrustRoot = pem,
            CertIssuerSubject = certificate.SubjectName.RawData,
            CertIssuerPublicKey = certificate.PublicKey.ExportSubjectPublicKeyInfo(),
        };
    }

    private static long Nanos(Duration? duration) => duration is null ? 0 : (duration.Seconds * 1_000_000_000) + duration.Nanos;

    private static Duration DurationOf(long nanos) => new() { Seconds = nanos / 1_000_000_000, Nanos = (int)(nanos % 1_000_000_000) };

    private static uint Ticks(int value, string field) =>
        value > 0 ? (uint)value : throw DockerApiException.BadRequest($"invalid {field} {value}: it must be positive");
}
