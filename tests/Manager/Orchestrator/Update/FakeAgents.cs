using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Time.Testing;
using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.Tests.Orchestrator.Update;

/// <summary>
/// The scheduler and the agents in one: after every task change it places tasks that have no node on the nodes in
/// turn and moves them as an agent would — desired READY to READY, desired RUNNING to RUNNING (or FAILED when
/// <see cref="Fails"/> says so), desired SHUTDOWN or beyond to SHUTDOWN — in one transaction, at the fake clock's time.
/// Each step that reports moves fake time on by 1 ms first, so a slot's tasks never share a creation instant (the
/// orchestrators tell a slot's newest task by its creation time, as a real clock always separates them).
/// </summary>
internal sealed class FakeAgents : IAsyncDisposable
{
    private readonly MemoryStore _store;
    private readonly FakeTimeProvider _time;
    private readonly string[] _nodes;
    private readonly StoreWatcher _watcher;
    private readonly Task _running;
    private int _next;

    public FakeAgents(MemoryStore store, FakeTimeProvider time, string[] nodes)
    {
        _store = store;
        _time = time;
        _nodes = nodes;
        _watcher = store.Watch(new WatchOptions { Filter = StoreEventFilters.Of<SwarmTask>(), Capacity = int.MaxValue });
        _running = Task.Run(RunAsync);
    }

    /// <summary>Images whose tasks fail when started ("task: non-zero exit (1)").</summary>
    public HashSet<string> FailingImages { get; } = new(StringComparer.Ordinal);

    /// <summary>Whether a task fails when it starts: its image is in <see cref="FailingImages"/>, or this says so.</summary>
    public Func<SwarmTask, bool> Fails { get; set; } = _ => false;

    private async Task RunAsync()
    {
        await StepAsync();
        await foreach (var _ in _watcher.ReadAllAsync())
        {
            while (_watcher.TryRead(out var _))
            {
            }

            await StepAsync();
        }
    }

    private async Task StepAsync()
    {
        try
        {
            var ticked = false;
            await _store.UpdateAsync(tx =>
            {
                var now = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
                foreach (var task in tx.Tasks.All().ToList())
                {
                    var state = task.Status?.State ?? TaskState.New;
                    if (state > TaskState.Running)
                    {
                        continue;
                    }

                    SwarmTaskStatus? next = null;
                    if (task.DesiredState >= TaskState.Shutdown)
                    {
                        next = new SwarmTaskStatus { State = TaskState.Shutdown, Message = "shutdown", Timestamp = now };
                    }
                    else if (task.DesiredState == TaskState.Running && state < TaskState.Running)
                    {
                        next = FailingImages.Contains(task.Spec.Container.Image) || Fails(task)
                            ? new SwarmTaskStatus { State = TaskState.Failed, Message = "started", Err = "task: non-zero exit (1)", Timestamp = now }
                            : new SwarmTaskStatus { State = TaskState.Running, Message = "started", Timestamp = now };
                    }
                    else if (task.DesiredState == TaskState.Ready && state < TaskState.Ready)
                    {
                        next = new SwarmTaskStatus { State = TaskState.Ready, Message = "prepared", Timestamp = now };
                    }

                    if (next is null)
                    {
                        continue;
                    }

                    if (!ticked)
                    {
                        _time.Advance(TimeSpan.FromMilliseconds(1));
                        now = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
                        ticked = true;
                    }

                    next.Timestamp = now;

                    var copy = task.Clone();
                    copy.Status = next;
                    if (copy.NodeId.Length == 0 && next.State != TaskState.Shutdown)
                    {
                        copy.NodeId = _nodes[_next++ % _nodes.Length];
                    }

                    tx.Update(copy);
                }
            });
        }
        catch (ObjectDisposedException)
        {
            // The store closed at the end of the test.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _watcher.Dispose();
        await _running;
    }
}

/// <summary>
/// Follows a service's tasks commit by commit and records, after each, how many of its slots (global: nodes) have a
/// task meant to run and RUNNING (what the docker CLI counts as running) and how many tasks run in all.
/// </summary>
internal sealed class RunningSampler : IDisposable
{
    private readonly string _serviceId;
    private readonly StoreWatcher _watcher;
    private readonly Dictionary<string, SwarmTask> _tasks = new(StringComparer.Ordinal);
    private readonly Task _reading;
    private readonly object _lock = new();
    private int _minSlots = int.MaxValue;
    private int _maxTasks;
    private int _samples;

    public RunningSampler(MemoryStore store, string serviceId)
    {
        _serviceId = serviceId;
        var (view, watcher) = store.ViewAndWatch(new WatchOptions
        {
            Filter = StoreEventFilters.Of<SwarmTask>(t => t.ServiceId == serviceId),
            IncludeCommits = true,
            Capacity = int.MaxValue,
        });
        _watcher = watcher;
        foreach (var task in view.Tasks.ByService(serviceId))
        {
            _tasks[task.Id] = task;
        }

        Sample();
        _reading = Task.Run(async () =>
        {
            await foreach (var e in _watcher.ReadAllAsync())
            {
                switch (e.Kind)
                {
                    case StoreEventKind.Commit:
                        Sample();
                        break;
                    case StoreEventKind.Delete:
                        _tasks.Remove(((SwarmTask)e.Target!).Id);
                        break;
                    default:
                        var task = (SwarmTask)e.Target!;
                        _tasks[task.Id] = task;
                        break;
                }
            }
        });
    }

    /// <summary>The fewest slots running at any commit.</summary>
    public int MinRunningSlots
    {
        get
        {
            lock (_lock)
            {
                return _minSlots;
            }
        }
    }

    /// <summary>The most tasks running at any commit.</summary>
    public int MaxRunningTasks
    {
        get
        {
            lock (_lock)
            {
                return _maxTasks;
            }
        }
    }

    /// <summary>Commits sampled.</summary>
    public int Samples
    {
        get
        {
            lock (_lock)
            {
                return _samples;
            }
        }
    }

    private void Sample()
    {
        var running = _tasks.Values.Where(t => t.ServiceId == _serviceId && t.DesiredState <= TaskState.Running && t.Status?.State == TaskState.Running).ToList();
        var slots = running.Select(t => t.Slot > 0 ? t.Slot.ToString(System.Globalization.CultureInfo.InvariantCulture) : t.NodeId).Distinct().Count();
        lock (_lock)
        {
            _minSlots = Math.Min(_minSlots, slots);
            _maxTasks = Math.Max(_maxTasks, running.Count);
            _samples++;
        }
    }

    public void Dispose()
    {
        _watcher.Dispose();
        _reading.Wait(TimeSpan.FromSeconds(5));
    }
}

/// <summary>Records every distinct update status (state and message) a service goes through, in order.</summary>
internal sealed class StatusHistory : IDisposable
{
    private readonly StoreWatcher _watcher;
    private readonly Task _reading;
    private readonly List<(UpdateState State, string Message)> _states = [];

    public StatusHistory(MemoryStore store, string serviceId)
    {
        _watcher = store.Watch(new WatchOptions { Filter = StoreEventFilters.Of<Service>(s => s.Id == serviceId), Capacity = int.MaxValue });
        _reading = Task.Run(async () =>
        {
            await foreach (var e in _watcher.ReadAllAsync())
            {
                if (e.Target is Service { UpdateStatus: { } status })
                {
                    lock (_states)
                    {
                        if (_states.Count == 0 || _states[^1] != (status.State, status.Message))
                        {
                            _states.Add((status.State, status.Message));
                        }
                    }
                }
            }
        });
    }

    /// <summary>The statuses seen so far.</summary>
    public List<(UpdateState State, string Message)> States
    {
        get
        {
            lock (_states)
            {
                return [.. _states];
            }
        }
    }

    public void Dispose()
    {
        _watcher.Dispose();
        _reading.Wait(TimeSpan.FromSeconds(5));
    }
}
