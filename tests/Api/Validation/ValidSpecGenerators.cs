using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Shoal.Api.Tests.Validation;

/// <summary>
/// Generators of specs that are valid by construction: every rule the validator enforces is respected, while
/// every optional part, oneof choice and collection size still varies.
/// </summary>
internal static class Valid
{
    private const string Alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    private const string Lower = "abcdefghijklmnopqrstuvwxyz0123456789";
    private const string Hex = "0123456789abcdef";

    private static readonly string[] Constraints =
    [
        "node.role==manager", "node.role != worker", "node.hostname==node-1", "node.id!=abc123", "node.platform.os==linux",
        "node.platform.arch==aarch64", "node.labels.zone==eu-1a", "engine.labels.disk!=hdd", "node.ip==10.0.0.4",
        "node.ip!=fd00::/8", "NODE.Labels.Rack == r1",
    ];

    public static readonly Gen<string> DnsLabel =
        from length in Gen.Choose(1, 63)
        from first in Gen.Elements(Alnum.ToCharArray())
        from middle in Gen.ArrayOf(Gen.Elements((Alnum + "-_").ToCharArray()), Math.Max(0, length - 2))
        from last in Gen.Elements(Alnum.ToCharArray())
        select length == 1 ? first.ToString() : first + new string(middle) + last;

    public static readonly Gen<string> SecretName =
        from length in Gen.Choose(1, 64)
        from first in Gen.Elements(Alnum.ToCharArray())
        from middle in Gen.ArrayOf(Gen.Elements((Alnum + "-_.").ToCharArray()), Math.Max(0, length - 2))
        from last in Gen.Elements(Alnum.ToCharArray())
        select length == 1 ? first.ToString() : first + new string(middle) + last;

    public static readonly Gen<string> Image =
        from domain in Gen.Elements("", "localhost:5000/", "registry.example.com/", "Registry-1.Example.com:443/", "[fd00::1]:5000/")
        from components in Gen.Choose(1, 3).SelectMany(count => Gen.ArrayOf(PathComponent(), count))
        from tag in Gen.Elements("", ":latest", ":1.25-alpine", ":V1_2.3")
        from digest in Gen.Frequency(
            (3, Gen.Constant("")),
            (1, Gen.ArrayOf(Gen.Elements(Hex.ToCharArray()), 64).Select(hex => "@sha256:" + new string(hex))))
        select domain + string.Join('/', components) + tag + digest;

    public static readonly Gen<ServiceSpec> ServiceSpec =
        from name in DnsLabel
        from mode in Gen.Choose(1, 4)
        from replicas in Gen.Choose(0, 1000)
        from task in TaskSpec()
        from update in Gen.Frequency((1, Gen.Constant<UpdateConfig?>(null)), (2, UpdateConfig().Select(u => (UpdateConfig?)u)))
        from rollback in Gen.Frequency((1, Gen.Constant<UpdateConfig?>(null)), (2, UpdateConfig().Select(u => (UpdateConfig?)u)))
        from endpoint in Gen.Frequency((1, Gen.Constant<EndpointSpec?>(null)), (2, Endpoint().Select(e => (EndpointSpec?)e)))
        select BuildService(name, mode, replicas, task, update, rollback, endpoint);

    public static readonly Gen<NetworkSpec> NetworkSpec =
        from name in DnsLabel
        from driver in Gen.Elements("", "overlay", "my_driver.v2-beta")
        from octet in Gen.Choose(0, 255)
        from prefix in Gen.Choose(8, 30)
        from withGateway in Gen.Elements(true, false)
        from attachable in Gen.Elements(true, false)
        select BuildNetwork(name, driver, octet, prefix, withGateway, attachable);

    public static readonly Gen<SecretSpec> SecretSpec =
        from name in SecretName
        from size in Gen.Frequency((5, Gen.Choose(1, 4096)), (1, Gen.Elements(1, 512_000)))
        select new SecretSpec { Annotations = new Annotations { Name = name }, Data = ByteString.CopyFrom(new byte[size]) };

    private static Gen<string> PathComponent() =>
        from parts in Gen.Choose(1, 3).SelectMany(count => Gen.ArrayOf(
            Gen.Choose(1, 6).SelectMany(length => Gen.ArrayOf(Gen.Elements(Lower.ToCharArray()), length)).Select(c => new string(c)),
            count))
        from separators in Gen.ArrayOf(Gen.Elements(".", "_", "__", "-", "--"), parts.Length)
        select string.Concat(parts.Select((part, i) => i == 0 ? part : separators[i] + part));

    private static Gen<Duration> NonNegativeDuration() =>
        from seconds in Gen.Frequency((3, Gen.Choose(0, 600)), (1, Gen.Constant(0)))
        from millis in Gen.Choose(0, 999)
        select new Duration { Seconds = seconds, Nanos = millis * 1_000_000 };

    private static Gen<TaskSpec> TaskSpec() =>
        from image in Image
        from envCount in Gen.Choose(0, 5)
        from mountCount in Gen.Choose(0, 4)
        from mountKinds in Gen.ArrayOf(Gen.Choose(0, 2), mountCount)
        from grace in Gen.Frequency((1, Gen.Constant<Duration?>(null)), (2, NonNegativeDuration().Select(d => (Duration?)d)))
        from health in Gen.Elements(0, 1, 2, 3)
        from secretCount in Gen.Frequency((4, Gen.Choose(0, 3)), (1, Gen.Choose(17, 30)))
        from cpuLimit in Gen.Frequency((1, Gen.Constant(0L)), (2, Gen.Choose(1, 8000).Select(m => m * 1_000_000L)))
        from cpuReservationPercent in Gen.Choose(0, 100)
        from memoryLimit in Gen.Frequency((1, Gen.Constant(0L)), (2, Gen.Choose(4, 4096).Select(m => (long)m << 20)))
        from memoryReservationPercent in Gen.Choose(0, 100)
        from restart in Gen.Elements(0, 1, 2, 3)
        from delay in NonNegativeDuration()
        from constraints in Gen.SubListOf(Constraints)
        from spread in Gen.Elements("", "node.labels.zone", "engine.labels.rack")
        from maxReplicas in Gen.Choose(0, 5)
        select BuildTask(image, envCount, mountKinds, grace, health, secretCount, cpuLimit, cpuReservationPercent, memoryLimit,
            memoryReservationPercent, restart, delay, constraints, spread, maxReplicas);

    private static Gen<UpdateConfig> UpdateConfig() =>
        from parallelism in Gen.Choose(0, 10)
        from delay in NonNegativeDuration()
        from monitor in NonNegativeDuration()
        from action in Gen.Elements(System.Enum.GetValues<FailureAction>())
        from order in Gen.Elements(System.Enum.GetValues<UpdateOrder>())
        from ratio in Gen.Choose(0, 1000).Select(i => i / 1000f)
        select new UpdateConfig { Parallelism = parallelism, Delay = delay, Monitor = monitor, FailureAction = action, Order = order, MaxFailureRatio = ratio };

    private static Gen<EndpointSpec> Endpoint() =>
        from dnsrr in Gen.Elements(false, false, true)
        from count in Gen.Frequency((4, Gen.Choose(0, 4)), (1, Gen.Choose(17, 40)))
        from targets in Gen.ArrayOf(Gen.Choose(1, 65535), count)
        from dynamic in Gen.ArrayOf(Gen.Elements(true, false), count)
        from protocols in Gen.ArrayOf(Gen.Elements(System.Enum.GetValues<PortProtocol>()), count)
        select BuildEndpoint(dnsrr, targets, dynamic, protocols);

    private static ServiceSpec BuildService(string name, int mode, int replicas, TaskSpec task, UpdateConfig? update, UpdateConfig? rollback, EndpointSpec? endpoint)
    {
        var spec = new ServiceSpec { Annotations = new Annotations { Name = name, Labels = { ["tier"] = "web" } }, Task = task, Rollback = rollback, Endpoint = endpoint };
        switch (mode)
        {
            case 1:
                spec.Replicated = new ReplicatedService { Replicas = replicas };
                spec.Update = update;
                break;
            case 2:
                spec.Global = new GlobalService();
                spec.Update = update;
                break;
            case 3:
                spec.ReplicatedJob = new ReplicatedJob { MaxConcurrent = replicas, TotalCompletions = replicas * 2 };
                break;
            default:
                spec.GlobalJob = new GlobalJob();
                break;
        }

        return spec;
    }

    private static TaskSpec BuildTask(
        string image, int envCount, int[] mountKinds, Duration? grace, int health, int secretCount, long cpuLimit, int cpuReservationPercent,
        long memoryLimit, int memoryReservationPercent, int restart, Duration delay, IList<string> constraints, string spread, int maxReplicas)
    {
        var container = new ContainerSpec { Image = image, StopGracePeriod = grace };
        for (var i = 0; i < envCount; i++)
        {
            container.Env.Add($"VAR_{i}=value {i}=x");
        }

        for (var i = 0; i < mountKinds.Length; i++)
        {
            container.Mounts.Add(mountKinds[i] switch
            {
                0 => new Mount { Type = Mount.Types.Type.Bind, Source = $"/srv/{i}", Target = $"/mnt/{i}", BindOptions = new Mount.Types.BindOptions() },
                1 => new Mount { Type = Mount.Types.Type.Volume, Source = i % 2 == 0 ? $"vol{i}" : string.Empty, Target = $"/mnt/{i}" },
                _ => new Mount { Type = Mount.Types.Type.Tmpfs, Target = $"/mnt/{i}", TmpfsOptions = new Mount.Types.TmpfsOptions { SizeBytes = 1 << 20 } },
            });
        }

        container.Healthcheck = health switch
        {
            1 => new HealthConfig { Test = { "NONE" } },
            2 => new HealthConfig { Test = { "CMD", "curl", "-f", "http://localhost/" }, Interval = new Duration { Seconds = 30 }, Retries = 3 },
            3 => new HealthConfig { Test = { "CMD-SHELL", "exit 0" }, Timeout = new Duration { Nanos = 1_000_000 }, StartPeriod = new Duration() },
            _ => null,
        };

        for (var i = 0; i < secretCount; i++)
        {
            container.Secrets.Add(new SecretReference { SecretId = $"id{i}", SecretName = $"secret{i}", File = new FileTarget { Name = $"secret{i}" } });
            container.Configs.Add(new ConfigReference { ConfigId = $"id{i}", ConfigName = $"config{i}", File = new FileTarget { Name = $"/etc/config{i}" } });
        }

        var task = new TaskSpec
        {
            Container = container,
            Resources = new ResourceRequirements
            {
                Limits = new ResourceLimits { NanoCpus = cpuLimit, MemoryBytes = memoryLimit },
                Reservations = new Resources
                {
                    NanoCpus = AtLeastMinimum(cpuLimit * cpuReservationPercent / 100, 1_000_000, cpuLimit),
                    MemoryBytes = AtLeastMinimum(memoryLimit * memoryReservationPercent / 100, 4L << 20, memoryLimit),
                },
            },
            Placement = new Placement { Constraints = { constraints }, MaxReplicas = maxReplicas },
        };
        if (spread.Length > 0)
        {
            task.Placement.Preferences.Add(new PlacementPreference { Spread = new SpreadOver { SpreadDescriptor = spread } });
        }

        if (restart > 0)
        {
            task.Restart = new RestartPolicy { Condition = (RestartCondition)restart, Delay = delay, Window = delay };
            if (restart == 2)
            {
                task.Restart.MaxAttempts = 3;
            }
        }

        return task;
    }

    /// <summary>A reservation that is 0 or at least the minimum, and never above the limit.</summary>
    private static long AtLeastMinimum(long value, long minimum, long limit) => value == 0 || limit < minimum ? 0 : Math.Max(value, minimum);

    private static EndpointSpec BuildEndpoint(bool dnsrr, int[] targets, bool[] dynamic, PortProtocol[] protocols)
    {
        var endpoint = new EndpointSpec { Mode = dnsrr ? ResolutionMode.Dnsrr : ResolutionMode.Vip };
        for (var i = 0; i < targets.Length; i++)
        {
            endpoint.Ports.Add(new PortConfig
            {
                TargetPort = (uint)targets[i],
                PublishedPort = dynamic[i] ? 0 : (uint)(30000 + i),
                Protocol = protocols[i],
                PublishMode = dnsrr ? PublishMode.Host : PublishMode.Ingress,
            });
        }

        return endpoint;
    }

    private static NetworkSpec BuildNetwork(string name, string driver, int octet, int prefix, bool withGateway, bool attachable)
    {
        var spec = new NetworkSpec { Annotations = new Annotations { Name = name }, Attachable = attachable };
        if (driver.Length > 0)
        {
            spec.DriverConfig = new Driver { Name = driver };
        }

        spec.Ipam = new IpamOptions
        {
            Configs =
            {
                new IpamConfig
                {
                    Family = IpamConfig.Types.AddressFamily.Ipv4,
                    Subnet = $"10.{octet}.0.0/{prefix}",
                    Gateway = withGateway ? $"10.{octet}.0.1" : string.Empty,
                },
            },
        };
        return spec;
    }
}
