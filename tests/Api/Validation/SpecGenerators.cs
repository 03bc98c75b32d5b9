using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Shoal.Api.Tests.Validation;

/// <summary>
/// FsCheck generators of hostile specs: random and pathological strings (empty, huge, control characters, lone
/// surrogates, inputs that make backtracking regexes explode), extreme and negative numbers, NaN ratios, malformed
/// durations, undefined enum values, missing sub-messages and every oneof choice including none.
/// </summary>
internal static class Hostile
{
    private static readonly string[] Plausible =
    [
        "", " ", "web", "Web", "-web", "web-", "a", "db", "nginx.conf", "nginx", "nginx:1.25", "Nginx", "localhost:5000/a/b:c",
        "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "nginx@sha256:", "@", ":", "/",
        "/data", "data", "/tmp", "relative", "CMD", "CMD-SHELL", "NONE", "true", "A=1", "=x", "KEY=", "node.role==manager",
        "node.role!=worker", "node.labels.zone==a", "node.ip==10.0.0.0/8", "node.ip==nope", "engine.labels.x!=y", "node.labels.",
        "node.labels.zone", "engine.labels.", "==", "!=", "key==", "10.0.0.0/24", "10.0.0.1", "fd00::/64", "fd00::1", "::",
        "0.0.0.0/0", "10.0.0.0/33", "overlay", "bridge", "swarm", "local", "container", "plugin", "attachment",
        "https://ca.example.com", "http://x", "default", "\0", "\n", "web\n", "\u200b", "ä", "\ud800", "\udfff",
    ];

    public static readonly Gen<string> String = Gen.Frequency(
        (6, Gen.Elements(Plausible)),
        (3, Chars(Gen.Choose(32, 126).Select(c => (char)c))),
        (2, Chars(Gen.Choose(0, 0xFFFF).Select(c => (char)c))),
        (1, Chars(Gen.Choose(0, 31).Select(c => (char)c))),
        (1, Gen.Elements("ab-_.:/@=!9Z ").SelectMany(alphabet => Chars(Gen.Elements(alphabet.ToCharArray())))),
        (1, Pathological()));

    public static readonly Gen<long> Long = Gen.Frequency(
        (4, Gen.Choose(-3, 3).Select(i => (long)i)),
        (3, Gen.Elements(long.MinValue, long.MaxValue, int.MinValue, int.MaxValue, uint.MaxValue, -1L, 65535L, 65536L,
            999_999L, 1_000_000L, 4_194_303L, 4_194_304L, 512_000L, 512_001L, -1000L, 1000L, 1001L)),
        (2, Gen.Zip(Gen.Choose(-1_000_000, 1_000_000), Gen.Choose(0, 1 << 20)).Select(t => (long)t.Item1 * t.Item2)),
        (1, Gen.Zip(Gen.Choose(0, int.MaxValue), Gen.Choose(0, int.MaxValue)).Select(t => ((long)t.Item1 << 33) ^ t.Item2)));

    public static readonly Gen<int> Int = Long.Select(l => (int)l);

    public static readonly Gen<uint> UInt = Long.Select(l => (uint)l);

    public static readonly Gen<float> Ratio = Gen.Frequency(
        (3, Gen.Elements(float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, 0.5f, 1f, 1.0000001f,
            -float.Epsilon, float.Epsilon, float.MaxValue, float.MinValue)),
        (2, Gen.Choose(-1000, 2000).Select(i => i / 1000f)));

    public static readonly Gen<Duration?> Duration = Maybe(Gen.Zip(
            Gen.Frequency(
                (3, Gen.Choose(-5, 5).Select(i => (long)i)),
                (2, Gen.Elements(long.MinValue, long.MaxValue, 315_576_000_000L, 315_576_000_001L, -315_576_000_000L,
                    -315_576_000_001L, 3600L, 3599L, 86_400L * 90)),
                (1, Long)),
            Gen.Frequency(
                (3, Gen.Elements(0, 1, -1, 999_999, 1_000_000, 999_999_999, -999_999_999, 1_000_000_000, -1_000_000_000,
                    int.MinValue, int.MaxValue, 500_000_000)),
                (1, Int)))
        .Select(t => new Duration { Seconds = t.Item1, Nanos = t.Item2 }));

    public static readonly Gen<ServiceSpec?> ServiceSpec = Maybe(
        from annotations in Annotations()
        from mode in Gen.Choose(0, 4)
        from first in Long
        from second in Long
        from task in Maybe(TaskSpec())
        from update in Maybe(UpdateConfig())
        from rollback in Maybe(UpdateConfig())
        from networks in List(NetworkAttachment())
        from endpoint in Maybe(Endpoint())
        select BuildService(annotations, mode, first, second, task, update, rollback, networks, endpoint));

    public static readonly Gen<NodeSpec?> NodeSpec = Maybe(
        from annotations in Annotations()
        from role in Enum<NodeRole>()
        from membership in Enum<NodeMembership>()
        from availability in Enum<NodeAvailability>()
        select new NodeSpec { Annotations = annotations, DesiredRole = role, Membership = membership, Availability = availability });

    public static readonly Gen<NetworkSpec?> NetworkSpec = Maybe(
        from annotations in Annotations()
        from driver in Maybe(Driver())
        from flags in Gen.Choose(0, 15)
        from configFrom in Maybe(String)
        from scope in String
        from ipam in Maybe(
            from ipamDriver in Maybe(Driver())
            from configs in List(
                from family in Enum<IpamConfig.Types.AddressFamily>()
                from subnet in Address(withPrefix: true)
                from range in Address(withPrefix: true)
                from gateway in Address(withPrefix: false)
                select new IpamConfig { Family = family, Subnet = subnet, Range = range, Gateway = gateway })
            select new IpamOptions { Driver = ipamDriver, Configs = { configs } })
        select BuildNetwork(annotations, driver, flags, configFrom, scope, ipam));

    public static readonly Gen<SecretSpec?> SecretSpec = Maybe(
        from annotations in Annotations()
        from data in Payload()
        from templating in Maybe(Driver())
        from driver in Maybe(Driver())
        select new SecretSpec { Annotations = annotations, Data = data, Templating = templating, Driver = driver });

    public static readonly Gen<ConfigSpec?> ConfigSpec = Maybe(
        from annotations in Annotations()
        from data in Payload()
        from templating in Maybe(Driver())
        select new ConfigSpec { Annotations = annotations, Data = data, Templating = templating });

    public static readonly Gen<ClusterSpec?> ClusterSpec = Maybe(
        from annotations in Annotations()
        from history in MaybeValue(Long)
        from raft in Maybe(
            from snapshot in Long
            from keep in MaybeValue(Long)
            from slow in Long
            from heartbeat in UInt
            from election in UInt
            select BuildRaft(snapshot, keep, slow, heartbeat, election))
        from heartbeatPeriod in Duration
        from ca in Maybe(
            from expiry in Duration
            from urls in List(Gen.Zip(String, Enum<ExternalCa.Types.Protocol>()))
            from key in Gen.Elements(0, 0, 8)
            from cert in Gen.Elements(0, 8)
            select BuildCa(expiry, urls, key, cert))
        select BuildCluster(annotations, history, raft, heartbeatPeriod, ca));

    public static Gen<T?> Maybe<T>(Gen<T> gen)
        where T : class =>
        Gen.Frequency((1, Gen.Constant<T?>(null)), (4, gen.Select(value => (T?)value)));

    private static Gen<T?> MaybeValue<T>(Gen<T> gen)
        where T : struct =>
        Gen.Frequency((1, Gen.Constant<T?>(null)), (4, gen.Select(value => (T?)value)));

    private static Gen<string> Chars(Gen<char> chars) =>
        Gen.Choose(0, 40).SelectMany(length => Gen.ArrayOf(chars, length)).Select(array => new string(array));

    /// <summary>Huge strings and the inputs that make nested-quantifier patterns backtrack exponentially.</summary>
    private static Gen<string> Pathological() =>
        Gen.Choose(1, 20_000).SelectMany(n => Gen.Elements(
            new string('a', n),
            new string('a', n) + "!",
            string.Concat(Enumerable.Repeat("a-", n)) + "!",
            string.Concat(Enumerable.Repeat("a_", n)) + "-",
            string.Concat(Enumerable.Repeat("a.", n)) + "/",
            "node.labels." + new string('k', n) + "==" + new string('v', n),
            new string('a', n) + "==" + string.Concat(Enumerable.Repeat("a ", n)) + "<",
            string.Concat(Enumerable.Repeat("a.b", n)) + "/" + string.Concat(Enumerable.Repeat("c-", n)) + ":",
            "localhost:" + new string('5', n) + "/x",
            new string('/', n),
            new string('\n', n)));

    private static Gen<T[]> List<T>(Gen<T> gen) =>
        Gen.Frequency((12, Gen.Choose(0, 4)), (1, Gen.Choose(17, 40))).SelectMany(count => Gen.ArrayOf(gen, count));

    private static Gen<T> Enum<T>()
        where T : struct, System.Enum =>
        Gen.Frequency(
            (4, Gen.Elements(System.Enum.GetValues<T>())),
            (1, Gen.Choose(-2, 1000).Select(i => (T)System.Enum.ToObject(typeof(T), i))));

    private static Gen<ByteString> Payload() =>
        Gen.Frequency(
            (4, Gen.Choose(0, 64)),
            (1, Gen.Elements(511_999, 512_000, 512_001, 600_000)))
        .Select(size => ByteString.CopyFrom(new byte[size]));

    private static Gen<string> Address(bool withPrefix) =>
        Gen.Frequency(
            (1, String),
            (3, from a in Gen.Choose(0, 300)
                from b in Gen.Choose(0, 255)
                from prefix in Gen.Choose(-1, 40)
                from v6 in Gen.Elements(false, false, true)
                let address = v6 ? $"fd{a % 100:00}::{b:x}" : $"10.{a}.{b}.1"
                select withPrefix ? $"{address}/{prefix}" : address));

    private static Gen<Annotations> Annotations() =>
        from name in String
        from labels in List(Gen.Zip(String, String))
        select BuildAnnotations(name, labels);

    private static Gen<Driver> Driver() =>
        from name in String
        from options in List(Gen.Zip(String, String))
        select BuildDriver(name, options);

    private static Gen<TaskSpec> TaskSpec() =>
        from runtime in Gen.Choose(0, 3)
        from container in Container()
        from plugin in Gen.Zip(String, String).Select(t => new PluginSpec { Name = t.Item1, Remote = t.Item2 })
        from runtimeName in String
        from resources in Maybe(Resources())
        from restart in Maybe(
            from condition in Enum<RestartCondition>()
            from delay in Duration
            from window in Duration
            from attempts in MaybeValue(Long)
            select BuildRestart(condition, delay, window, attempts))
        from placement in Maybe(
            from constraints in List(String)
            from preferences in List(Maybe(String))
            from maxReplicas in Long
            select BuildPlacement(constraints, preferences, maxReplicas))
        from networks in List(NetworkAttachment())
        select BuildTask(runtime, container, plugin, runtimeName, resources, restart, placement, networks);

    private static Gen<ResourceRequirements> Resources() =>
        from limits in Maybe(
            from cpu in Long
            from memory in Long
            from pids in Long
            select new ResourceLimits { NanoCpus = cpu, MemoryBytes = memory, Pids = pids })
        from reservations in Maybe(
            from cpu in Long
            from memory in Long
            from generic in List(
                from choice in Gen.Choose(0, 2)
                from kind in String
                from value in Long
                from named in String
                select BuildGenericResource(choice, kind, value, named))
            select BuildReservations(cpu, memory, generic))
        select new ResourceRequirements { Limits = limits, Reservations = reservations };

    private static Gen<ContainerSpec> Container() =>
        from image in String
        from labels in List(Gen.Zip(String, String))
        from env in List(String)
        from mounts in List(
            from type in Enum<Mount.Types.Type>()
            from source in String
            from target in String
            from options in Gen.Choose(0, 7)
            from tmpfsSize in Long
            select BuildMount(type, source, target, options, tmpfsSize))
        from grace in Duration
        from health in Maybe(
            from test in List(String)
            from interval in Duration
            from timeout in Duration
            from startPeriod in Duration
            from startInterval in Duration
            from retries in Int
            select BuildHealth(test, interval, timeout, startPeriod, startInterval, retries))
        from secrets in List(
            from id in String
            from name in String
            from file in Maybe(String)
            select BuildSecretReference(id, name, file))
        from configs in List(
            from id in String
            from name in String
            from target in Gen.Choose(0, 2)
            from file in String
            select BuildConfigReference(id, name, target, file))
        from credentialSpecConfig in Maybe(String)
        from ulimits in List(
            from name in String
            from soft in Long
            from hard in Long
            select new Ulimit { Name = name, Soft = soft, Hard = hard })
        from oom in Long
        select BuildContainer(image, labels, env, mounts, grace, health, secrets, configs, credentialSpecConfig, ulimits, oom);

    private static Gen<UpdateConfig> UpdateConfig() =>
        from parallelism in Long
        from delay in Duration
        from monitor in Duration
        from action in Enum<FailureAction>()
        from order in Enum<UpdateOrder>()
        from ratio in Ratio
        select new UpdateConfig
        {
            Parallelism = parallelism,
            Delay = delay,
            Monitor = monitor,
            FailureAction = action,
            Order = order,
            MaxFailureRatio = ratio,
        };

    private static Gen<NetworkAttachmentConfig> NetworkAttachment() =>
        String.Select(target => new NetworkAttachmentConfig { Target = target });

    private static Gen<EndpointSpec> Endpoint() =>
        from mode in Enum<ResolutionMode>()
        from ports in List(
            from protocol in Enum<PortProtocol>()
            from target in Gen.Frequency((3, Gen.Choose(0, 70_000).Select(p => (uint)p)), (1, UInt))
            from published in Gen.Frequency((3, Gen.Elements(0u, 80u, 8080u, 65535u, 65536u, 70000u)), (1, UInt))
            from publishMode in Enum<PublishMode>()
            select new PortConfig { Protocol = protocol, TargetPort = target, PublishedPort = published, PublishMode = publishMode })
        select BuildEndpoint(mode, ports);

    private static ServiceSpec BuildService(
        Annotations? annotations, int mode, long first, long second, TaskSpec? task, UpdateConfig? update, UpdateConfig? rollback,
        NetworkAttachmentConfig[] networks, EndpointSpec? endpoint)
    {
        var spec = new ServiceSpec { Annotations = annotations, Task = task, Update = update, Rollback = rollback, Endpoint = endpoint };
        spec.Networks.Add(networks);
        switch (mode)
        {
            case 1:
                spec.Replicated = new ReplicatedService { Replicas = first };
                break;
            case 2:
                spec.Global = new GlobalService();
                break;
            case 3:
                spec.ReplicatedJob = new ReplicatedJob { MaxConcurrent = first, TotalCompletions = second };
                break;
            case 4:
                spec.GlobalJob = new GlobalJob();
                break;
            default:
                break;
        }

        return spec;
    }

    private static TaskSpec BuildTask(
        int runtime, ContainerSpec container, PluginSpec plugin, string runtimeName, ResourceRequirements? resources,
        RestartPolicy? restart, Placement? placement, NetworkAttachmentConfig[] networks)
    {
        var task = new TaskSpec { RuntimeName = runtimeName, Resources = resources, Restart = restart, Placement = placement };
        task.Networks.Add(networks);
        switch (runtime)
        {
            case 1:
                task.Container = container;
                break;
            case 2:
                task.Plugin = plugin;
                break;
            case 3:
                task.Attachment = new NetworkAttachmentSpec { ContainerId = runtimeName };
                break;
            default:
                break;
        }

        return task;
    }

    private static ContainerSpec BuildContainer(
        string image, (string, string)[] labels, string[] env, Mount[] mounts, Duration? grace, HealthConfig? health,
        SecretReference[] secrets, ConfigReference[] configs, string? credentialSpecConfig, Ulimit[] ulimits, long oom)
    {
        var container = new ContainerSpec { Image = image, StopGracePeriod = grace, Healthcheck = health, OomScoreAdj = oom };
        foreach (var (key, value) in labels)
        {
            container.Labels[key] = value;
        }

        container.Env.Add(env);
        container.Mounts.Add(mounts);
        container.Secrets.Add(secrets);
        container.Configs.Add(configs);
        container.Ulimits.Add(ulimits);
        if (credentialSpecConfig is not null)
        {
            container.Privileges = new Privileges { CredentialSpec = new Privileges.Types.CredentialSpec { Config = credentialSpecConfig } };
        }

        return container;
    }

    private static Mount BuildMount(Mount.Types.Type type, string source, string target, int options, long tmpfsSize) => new()
    {
        Type = type,
        Source = source,
        Target = target,
        BindOptions = (options & 1) != 0 ? new Mount.Types.BindOptions() : null,
        VolumeOptions = (options & 2) != 0 ? new Mount.Types.VolumeOptions { Labels = { [source] = target } } : null,
        TmpfsOptions = (options & 4) != 0 ? new Mount.Types.TmpfsOptions { SizeBytes = tmpfsSize } : null,
    };

    private static HealthConfig BuildHealth(string[] test, Duration? interval, Duration? timeout, Duration? startPeriod, Duration? startInterval, int retries)
    {
        var health = new HealthConfig
        {
            Interval = interval,
            Timeout = timeout,
            StartPeriod = startPeriod,
            StartInterval = startInterval,
            Retries = retries,
        };
        health.Test.Add(test);
        return health;
    }

    private static SecretReference BuildSecretReference(string id, string name, string? file)
    {
        var reference = new SecretReference { SecretId = id, SecretName = name };
        if (file is not null)
        {
            reference.File = new FileTarget { Name = file };
        }

        return reference;
    }

    private static ConfigReference BuildConfigReference(string id, string name, int target, string file)
    {
        var reference = new ConfigReference { ConfigId = id, ConfigName = name };
        if (target == 1)
        {
            reference.File = new FileTarget { Name = file };
        }
        else if (target == 2)
        {
            reference.Runtime = new RuntimeTarget();
        }

        return reference;
    }

    private static Resources BuildReservations(long cpu, long memory, GenericResource[] generic)
    {
        var reservations = new Resources { NanoCpus = cpu, MemoryBytes = memory };
        reservations.Generic.Add(generic);
        return reservations;
    }

    private static GenericResource BuildGenericResource(int choice, string kind, long value, string named) => choice switch
    {
        1 => new GenericResource { Discrete = new DiscreteGenericResource { Kind = kind, Value = value } },
        2 => new GenericResource { Named = new NamedGenericResource { Kind = kind, Value = named } },
        _ => new GenericResource(),
    };

    private static RestartPolicy BuildRestart(RestartCondition condition, Duration? delay, Duration? window, long? attempts)
    {
        var restart = new RestartPolicy { Condition = condition, Delay = delay, Window = window };
        if (attempts is { } value)
        {
            restart.MaxAttempts = value;
        }

        return restart;
    }

    private static Placement BuildPlacement(string[] constraints, string?[] preferences, long maxReplicas)
    {
        var placement = new Placement { MaxReplicas = maxReplicas };
        placement.Constraints.Add(constraints);
        foreach (var descriptor in preferences)
        {
            placement.Preferences.Add(descriptor is null
                ? new PlacementPreference()
                : new PlacementPreference { Spread = new SpreadOver { SpreadDescriptor = descriptor } });
        }

        return placement;
    }

    private static EndpointSpec BuildEndpoint(ResolutionMode mode, PortConfig[] ports)
    {
        var endpoint = new EndpointSpec { Mode = mode };
        endpoint.Ports.Add(ports);
        return endpoint;
    }

    private static Annotations BuildAnnotations(string name, (string, string)[] labels)
    {
        var annotations = new Annotations { Name = name };
        foreach (var (key, value) in labels)
        {
            annotations.Labels[key] = value;
        }

        return annotations;
    }

    private static Driver BuildDriver(string name, (string, string)[] options)
    {
        var driver = new Driver { Name = name };
        foreach (var (key, value) in options)
        {
            driver.Options[key] = value;
        }

        return driver;
    }

    private static NetworkSpec BuildNetwork(Annotations? annotations, Driver? driver, int flags, string? configFrom, string scope, IpamOptions? ipam)
    {
        var spec = new NetworkSpec
        {
            Annotations = annotations,
            DriverConfig = driver,
            Ipv6Enabled = (flags & 1) != 0,
            Internal = (flags & 2) != 0,
            Attachable = (flags & 4) != 0,
            Ingress = (flags & 8) != 0,
            Scope = scope,
            Ipam = ipam,
        };
        if (configFrom is not null)
        {
            spec.Network = configFrom;
        }

        return spec;
    }

    private static RaftConfig BuildRaft(long snapshot, long? keep, long slow, uint heartbeat, uint election)
    {
        var raft = new RaftConfig
        {
            SnapshotInterval = (ulong)snapshot,
            LogEntriesForSlowFollowers = (ulong)slow,
            HeartbeatTick = heartbeat,
            ElectionTick = election,
        };
        if (keep is { } value)
        {
            raft.KeepOldSnapshots = (ulong)value;
        }

        return raft;
    }

    private static CaConfig BuildCa(Duration? expiry, (string, ExternalCa.Types.Protocol)[] externals, int keyLength, int certLength)
    {
        var ca = new CaConfig
        {
            NodeCertExpiry = expiry,
            SigningCaKey = ByteString.CopyFrom(new byte[keyLength]),
            SigningCaCert = ByteString.CopyFrom(new byte[certLength]),
        };
        foreach (var (url, protocol) in externals)
        {
            ca.ExternalCas.Add(new ExternalCa { Url = url, Protocol = protocol });
        }

        return ca;
    }

    private static ClusterSpec BuildCluster(Annotations? annotations, long? history, RaftConfig? raft, Duration? heartbeatPeriod, CaConfig? ca)
    {
        var spec = new ClusterSpec
        {
            Annotations = annotations,
            Raft = raft,
            Dispatcher = heartbeatPeriod is null ? null : new DispatcherConfig { HeartbeatPeriod = heartbeatPeriod },
            CaConfig = ca,
        };
        if (history is { } value)
        {
            spec.Orchestration = new OrchestrationConfig { TaskHistoryRetentionLimit = value };
        }

        return spec;
    }
}
