using Google.Protobuf.WellKnownTypes;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Store;

namespace Shoal.Benchmarks;

/// <summary>
/// The store every benchmark runs against: nodes, services and tasks with the fields a real cluster fills in, built
/// through ordinary transactions (as SwarmKit's <c>setupNodes</c> does). Deterministic apart from the random ids.
/// </summary>
public sealed class StoreFixture
{
    public const int DefaultNodes = 10_000;
    public const int DefaultServices = 1_000;
    public const int DefaultTasks = 100_000;

    private static readonly Timestamp Started = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static readonly Lock SharedLock = new();
    private static Task<StoreFixture>? _shared;

    private StoreFixture(MemoryStore store, string[] nodeIds, string[] serviceIds, string[] taskIds)
    {
        Store = store;
        NodeIds = nodeIds;
        ServiceIds = serviceIds;
        TaskIds = taskIds;
    }

    public MemoryStore Store { get; }

    /// <summary>
    /// The default fixture (10,000 nodes, 1,000 services, 100,000 tasks), built once per process and shared by every
    /// benchmark class (the suite runs in-process). Building it takes seconds, and BenchmarkDotNet runs GlobalSetup
    /// once per case. Benchmarks that write leave it with the same objects and counts: updates only, and creates
    /// undone by their cleanup. Never dispose it.
    /// </summary>
    public static Task<StoreFixture> SharedAsync()
    {
        lock (SharedLock)
        {
            return _shared ??= BuildAsync();
        }
    }

    public string[] NodeIds { get; }

    public string[] ServiceIds { get; }

    /// <summary>Task ids in creation order: service-major, so task <c>i</c> is slot <c>i % (tasks/services) + 1</c>
    /// of service <c>i / (tasks/services)</c>, and runs on node <c>i % nodes</c>.</summary>
    public string[] TaskIds { get; }

    /// <summary>Builds the store: <paramref name="nodes"/> nodes, then services, then tasks spread evenly over both
    /// (tasks/services per service, tasks/nodes per node), committed 1,000 creates per transaction.</summary>
    public static async Task<StoreFixture> BuildAsync(int nodes = DefaultNodes, int services = DefaultServices, int tasks = DefaultTasks)
    {
        var store = new MemoryStore();
        var nodeIds = await CreateAllAsync(store, nodes, i => NewNode(Identity.NewId(), i));
        var serviceIds = services == 0 ? [] : await CreateAllAsync(store, services, NewService);
        var perService = services == 0 ? 0 : tasks / services;
        var taskIds = tasks == 0 ? [] : await CreateAllAsync(store, tasks, i =>
        {
            var service = i / perService;
            return NewTask(Identity.NewId(), serviceIds[service], service, (i % perService) + 1, nodeIds[i % nodes]);
        });
        return new StoreFixture(store, nodeIds, serviceIds, taskIds);
    }

    public static Node NewNode(string id, int i) => new()
    {
        Id = id,
        Role = i % 1000 == 0 ? NodeRole.Manager : NodeRole.Worker,
        Spec = new NodeSpec
        {
            Annotations = new Annotations { Labels = { ["zone"] = $"zone-{i % 3}", ["rack"] = $"rack-{i % 40}" } },
            DesiredRole = i % 1000 == 0 ? NodeRole.Manager : NodeRole.Worker,
            Membership = NodeMembership.Accepted,
            Availability = NodeAvailability.Active,
        },
        Description = new NodeDescription
        {
            Hostname = $"worker-{i:D5}.dc1.example.com",
            Platform = new Platform { Architecture = "x86_64", Os = "linux" },
            Resources = new Resources { NanoCpus = 8_000_000_000, MemoryBytes = 32L << 30 },
            Engine = new EngineDescription { EngineVersion = "28.3.2", Labels = { ["storage"] = "ssd" } },
        },
        Status = new NodeStatus { State = NodeState.Ready, Addr = $"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}" },
    };

    private static Service NewService(int i) => new()
    {
        Id = Identity.NewId(),
        SpecVersion = 1,
        Spec = new ServiceSpec
        {
            Annotations = new Annotations { Name = $"svc-{i:D4}", Labels = { ["team"] = $"team-{i % 25}" } },
            Task = NewTaskSpec(i),
            Replicated = new ReplicatedService { Replicas = 100 },
        },
    };

    private static TaskSpec NewTaskSpec(int service) => new()
    {
        Container = new ContainerSpec
        {
            Image = $"registry.example.com/team-{service % 25}/app-{service:D4}:1.{service % 17}.3",
            Env = { "ASPNETCORE_ENVIRONMENT=Production", $"SERVICE_INDEX={service}", "LOG_LEVEL=info" },
            Args = { "--port", "8080" },
            Labels = { ["com.example.owner"] = $"team-{service % 25}" },
        },
        Resources = new ResourceRequirements { Reservations = new Resources { NanoCpus = 250_000_000, MemoryBytes = 256L << 20 } },
        Restart = new RestartPolicy { Condition = RestartCondition.Any, Delay = Duration.FromTimeSpan(TimeSpan.FromSeconds(5)) },
    };

    public static SwarmTask NewTask(string id, string serviceId, int service, long slot, string nodeId) => new()
    {
        Id = id,
        ServiceId = serviceId,
        Slot = slot,
        NodeId = nodeId,
        SpecVersion = 1,
        Spec = NewTaskSpec(service),
        Annotations = new Annotations { Name = $"svc-{service:D4}.{slot}.{id}" },
        ServiceAnnotations = new Annotations { Name = $"svc-{service:D4}" },
        DesiredState = TaskState.Running,
        Status = new SwarmTaskStatus
        {
            State = TaskState.Running,
            Message = "started",
            Timestamp = Started,
            Container = new ContainerStatus { ContainerId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()), Pid = 4000 + (int)slot },
            AppliedBy = nodeId,
            AppliedAt = Started,
        },
    };

    private static async Task<string[]> CreateAllAsync<T>(MemoryStore store, int count, Func<int, T> make)
        where T : class, IStoreObject, Google.Protobuf.IMessage<T>
    {
        const int PerTransaction = 1_000;
        var ids = new string[count];
        for (var start = 0; start < count; start += PerTransaction)
        {
            var end = Math.Min(count, start + PerTransaction);
            await store.UpdateAsync(tx =>
            {
                for (var i = start; i < end; i++)
                {
                    var obj = make(i);
                    ids[i] = obj.Id;
                    tx.Create(obj);
                }
            });
        }

        return ids;
    }
}
