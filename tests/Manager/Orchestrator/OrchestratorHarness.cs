using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Time.Testing;
using Shoal.Api;
using Shoal.Manager.Orchestrator;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Orchestrator;

/// <summary>
/// A Raft-less store on fake time with all the orchestration loops running on it (no debounce, so a pass follows
/// each commit), standing in for the scheduler and the agents: tests place tasks on nodes and report their states.
/// </summary>
internal sealed class OrchestratorHarness : IAsyncDisposable
{
    public static readonly OrchestratorOptions Options = new()
    {
        CommitDebounceGap = TimeSpan.Zero,
        MaxLatency = TimeSpan.Zero,
        ReaperDebounceGap = TimeSpan.Zero,
    };

    private CancellationTokenSource? _stop;
    private Task? _run;

    public OrchestratorHarness()
    {
        Store = new MemoryStore(timeProvider: Time);
        Loops = new Orchestrators(Store, Options, Time, TestLog.Factory);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public MemoryStore Store { get; }

    public Orchestrators Loops { get; private set; }

    public static async Task<OrchestratorHarness> StartAsync(params IStoreObject[] initial)
    {
        var harness = new OrchestratorHarness();
        if (initial.Length > 0)
        {
            await harness.Store.CreateAsync(initial);
        }

        await harness.StartLoopsAsync();
        return harness;
    }

    /// <summary>Starts the loops (a new leader: fresh instances) and waits until all six watch the store.</summary>
    public async Task StartLoopsAsync()
    {
        var watchers = Store.WatcherCount;
        _stop = new CancellationTokenSource();
        Loops = new Orchestrators(Store, Options, Time, TestLog.Factory);
        var token = _stop.Token;
        _run = Task.Run(() => Loops.RunAsync(token));
        await Eventually.TrueAsync(() => Store.WatcherCount >= watchers + 6, "the six orchestration loops watching the store");
    }

    /// <summary>Stops the loops (leadership lost).</summary>
    public async Task StopLoopsAsync()
    {
        await _stop!.CancelAsync();
        await _run!;
        _stop.Dispose();
        _stop = null;
        _run = null;
    }

    public ValueTask CreateAsync(params IStoreObject[] objects) => Store.CreateAsync(objects);

    public ValueTask ChangeTaskAsync(string id, Action<SwarmTask> change) => ChangeAsync(id, change);

    public ValueTask ChangeNodeAsync(string id, Action<Node> change) => ChangeAsync(id, change);

    /// <summary>Changes a service as the control API does: a spec change bumps the spec version.</summary>
    public ValueTask ChangeServiceAsync(string id, Action<Service> change) => ChangeAsync(id, change);

    public ValueTask DeleteServiceAsync(string id) => Store.UpdateAsync(tx => tx.Delete<Service>(id));

    public ValueTask DeleteNodeAsync(string id) => Store.UpdateAsync(tx => tx.Delete<Node>(id));

    /// <summary>Reports a state for a task, as its agent would (with the fake clock's time).</summary>
    public ValueTask ReportAsync(string id, TaskState state, int exitCode = 0) => ChangeTaskAsync(id, t =>
    {
        t.Status = new SwarmTaskStatus
        {
            State = state,
            Message = state.ToString().ToLowerInvariant(),
            Timestamp = Timestamp.FromDateTimeOffset(Time.GetUtcNow()),
            Container = new ContainerStatus { ExitCode = exitCode },
        };
    });

    /// <summary>Places a task on a node and reports it RUNNING (scheduler and agent in one step).</summary>
    public ValueTask RunOnAsync(string id, string nodeId) => ChangeTaskAsync(id, t =>
    {
        t.NodeId = nodeId;
        t.Status = new SwarmTaskStatus { State = TaskState.Running, Message = "started", Timestamp = Timestamp.FromDateTimeOffset(Time.GetUtcNow()) };
    });

    /// <summary>Places every active task of a service that has no node on <paramref name="nodeIds"/> in turn, in one
    /// transaction, and reports them RUNNING.</summary>
    public ValueTask RunAllAsync(string serviceId, params string[] nodeIds) => Store.UpdateAsync(tx =>
    {
        var i = 0;
        foreach (var task in tx.Tasks.ByService(serviceId).ToList())
        {
            if (task.NodeId.Length == 0 && task.DesiredState <= TaskState.Running && task.Status.State <= TaskState.Running)
            {
                var copy = task.Clone();
                copy.NodeId = nodeIds[i++ % nodeIds.Length];
                copy.Status = new SwarmTaskStatus { State = TaskState.Running, Timestamp = Timestamp.FromDateTimeOffset(Time.GetUtcNow()) };
                tx.Update(copy);
            }
        }
    });

    public SwarmTask Get(string id) => Store.View().Tasks.Get(id)!;

    public List<SwarmTask> TasksOf(string serviceId) => [.. Store.View().Tasks.ByService(serviceId)];

    /// <summary>Tasks meant to run and not stopped.</summary>
    public List<SwarmTask> Active(string serviceId) =>
        [.. TasksOf(serviceId).Where(t => t.DesiredState <= TaskState.Running && t.Status.State <= TaskState.Running)];

    public Task WaitAsync(Func<bool> condition, string expectation) => Eventually.TrueAsync(condition, expectation);

    public Task WaitActiveAsync(string serviceId, int count) => WaitAsync(
        () => Active(serviceId).Count == count,
        $"{count} active tasks of service {serviceId} (there are {Active(serviceId).Count})");

    public Task WaitDesiredAsync(string taskId, TaskState desired) => WaitAsync(
        () => Get(taskId) is { } t && t.DesiredState == desired,
        $"task {taskId} with desired state {desired} (it has {Store.View().Tasks.Get(taskId)?.DesiredState.ToString() ?? "none: deleted"})");

    /// <summary>Waits until the restart supervisor armed its timer for <paramref name="at"/> (fake time must not
    /// move before, or the timer would be armed after the move and fire late).</summary>
    public Task WaitRestartTimerAsync(DateTimeOffset at) => WaitAsync(
        () => Loops.Restarts.ArmedUntil == at.UtcTicks,
        $"the restart supervisor's timer armed for {at:O} (armed for {new DateTimeOffset(Math.Max(Loops.Restarts.ArmedUntil, 0), TimeSpan.Zero):O})");

    public Task WaitDeletedAsync(string taskId) => WaitAsync(() => Store.View().Tasks.Get(taskId) is null, $"task {taskId} deleted");

    public async ValueTask DisposeAsync()
    {
        if (_stop is not null)
        {
            await StopLoopsAsync();
        }

        Store.Dispose();
    }

    /// <summary>Reads the stored object, changes a copy and writes it back.</summary>
    private ValueTask ChangeAsync<T>(string id, Action<T> change)
        where T : class, IStoreObject, IMessage<T> => Store.UpdateAsync(tx =>
    {
        var copy = tx.Table<T>().Get(id)!.Clone();
        change(copy);
        tx.Update(copy);
    });

    public static Node Node(string hostname, params (string Key, string Value)[] labels)
    {
        var node = Objects.Node(hostname);
        foreach (var (key, value) in labels)
        {
            node.Spec.Annotations.Labels[key] = value;
        }

        return node;
    }

    public static Service Replicated(string name, long replicas, Action<TaskSpec>? spec = null)
    {
        var service = Objects.Service(name, replicas);
        service.SpecVersion = 1;
        spec?.Invoke(service.Spec.Task);
        return service;
    }

    public static Service Global(string name, Action<TaskSpec>? spec = null)
    {
        var service = Objects.Service(name);
        service.SpecVersion = 1;
        service.Spec.Global = new GlobalService();
        spec?.Invoke(service.Spec.Task);
        return service;
    }

    public static Action<TaskSpec> Restart(RestartCondition condition = RestartCondition.Any, TimeSpan? delay = null, long? maxAttempts = null, TimeSpan? window = null) => spec =>
    {
        spec.Restart = new RestartPolicy { Condition = condition, Delay = Duration.FromTimeSpan(delay ?? TimeSpan.Zero) };
        if (maxAttempts is { } max)
        {
            spec.Restart.MaxAttempts = max;
        }

        if (window is { } w)
        {
            spec.Restart.Window = Duration.FromTimeSpan(w);
        }
    };

    public static Action<TaskSpec> Constraints(params string[] constraints) => spec =>
    {
        spec.Placement ??= new Placement();
        spec.Placement.Constraints.Add(constraints);
    };
}
