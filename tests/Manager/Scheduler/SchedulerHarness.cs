using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Store;
using Shoal.TestKit;
using SchedulerLoop = Shoal.Manager.Scheduler.Scheduler;

namespace Shoal.Manager.Tests.Scheduling;

/// <summary>A Raft-less store with the scheduler running on it (real time, default 50 ms / 1 s debounce), and
/// builders for the nodes and tasks the scenarios need.</summary>
internal sealed class SchedulerHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;

    public SchedulerHarness(TimeProvider? time = null)
    {
        Scheduler = new SchedulerLoop(Store, time: time, logger: TestLog.Factory.CreateLogger<SchedulerLoop>());
    }

    public MemoryStore Store { get; } = new();

    public SchedulerLoop Scheduler { get; }

    public static async Task<SchedulerHarness> StartAsync(params IStoreObject[] initial)
    {
        var harness = new SchedulerHarness();
        if (initial.Length > 0)
        {
            await harness.CreateAsync(initial);
        }

        harness.Start();
        return harness;
    }

    public void Start() => _run = Task.Run(() => Scheduler.RunAsync(_stop.Token));

    /// <summary>Waits until the scheduler took its snapshot and watches the store: later writes reach it as events.</summary>
    public Task WatchingAsync() => Eventually.TrueAsync(() => Store.WatcherCount > 0, "the scheduler watching the store");

    public ValueTask CreateAsync(params IStoreObject[] objects) => Store.CreateAsync(objects);

    /// <summary>Reads the stored task, changes a copy and writes it back.</summary>
    public ValueTask ChangeTaskAsync(string id, Action<SwarmTask> change) => Store.UpdateAsync(tx =>
    {
        var copy = tx.Tasks.Get(id)!.Clone();
        change(copy);
        tx.Update(copy);
    });

    public ValueTask ChangeNodeAsync(string id, Action<Node> change) => Store.UpdateAsync(tx =>
    {
        var copy = tx.Nodes.Get(id)!.Clone();
        change(copy);
        tx.Update(copy);
    });

    public SwarmTask Get(string id) => Store.View().Tasks.Get(id)!;

    public Task WaitAssignedAsync(params SwarmTask[] tasks) => Eventually.TrueAsync(
        () => tasks.All(t => Get(t.Id) is { NodeId.Length: > 0, Status.State: TaskState.Assigned }),
        $"{tasks.Length} tasks ASSIGNED to nodes");

    public Task WaitErrorAsync(SwarmTask task, string expected) => Eventually.TrueAsync(
        () => Get(task.Id).Status.Err == expected,
        $"task {task.Id} PENDING with error \"{expected}\" (it has \"{Get(task.Id).Status.Err}\")");

    /// <summary>Runs <paramref name="trigger"/> and waits until a pass that started after it has committed.</summary>
    public async Task WaitNextPassAsync(Func<ValueTask> trigger)
    {
        var started = Scheduler.PassesStarted;
        await trigger();
        await Eventually.TrueAsync(() => Scheduler.PassesCompleted > started, "a scheduling pass after the change");
    }

    /// <summary>How many of <paramref name="tasks"/> each node holds, by node id.</summary>
    public Dictionary<string, int> CountByNode(IEnumerable<SwarmTask> tasks) => tasks
        .Select(t => Get(t.Id).NodeId)
        .Where(n => n.Length > 0)
        .GroupBy(n => n)
        .ToDictionary(g => g.Key, g => g.Count());

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run;
        }

        Store.Dispose();
        _stop.Dispose();
    }

    public static Node Node(string id, string hostname = "node", NodeRole role = NodeRole.Worker, long nanoCpus = 0, long memoryBytes = 0, params (string Key, string Value)[] labels)
    {
        var node = Objects.Node(hostname, role, id);
        node.Description.Resources = new Resources { NanoCpus = nanoCpus, MemoryBytes = memoryBytes };
        foreach (var (key, value) in labels)
        {
            node.Spec.Annotations.Labels[key] = value;
        }

        return node;
    }

    /// <summary>A PENDING task of <paramref name="service"/> at spec version 1, as the allocator leaves it.</summary>
    public static SwarmTask Pending(Service service, long slot = 1, Action<TaskSpec>? spec = null)
    {
        var task = Objects.Task(service, slot, state: TaskState.Pending);
        task.SpecVersion = 1;
        spec?.Invoke(task.Spec);
        return task;
    }

    /// <summary>A task of <paramref name="service"/> already running on <paramref name="nodeId"/>.</summary>
    public static SwarmTask Running(Service service, string nodeId, long slot = 1, Action<TaskSpec>? spec = null)
    {
        var task = Objects.Task(service, slot, nodeId, TaskState.Running);
        task.SpecVersion = 1;
        spec?.Invoke(task.Spec);
        return task;
    }

    /// <summary>A PENDING task without a service (SwarmKit's benchmark shape).</summary>
    public static SwarmTask OneOff(Action<TaskSpec>? spec = null)
    {
        var task = new SwarmTask
        {
            Id = Identity.NewId(),
            Spec = new TaskSpec { Container = new ContainerSpec { Image = "busybox" } },
            Status = new SwarmTaskStatus { State = TaskState.Pending },
            DesiredState = TaskState.Running,
        };
        spec?.Invoke(task.Spec);
        return task;
    }

    public static Action<TaskSpec> Constraints(params string[] constraints) => spec =>
    {
        spec.Placement ??= new Placement();
        spec.Placement.Constraints.Add(constraints);
    };

    public static Action<TaskSpec> Reserve(long nanoCpus, long memoryBytes = 0) => spec =>
        spec.Resources = new ResourceRequirements { Reservations = new Resources { NanoCpus = nanoCpus, MemoryBytes = memoryBytes } };
}
