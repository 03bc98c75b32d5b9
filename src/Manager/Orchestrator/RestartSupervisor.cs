using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Manager.Reconciliation;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// Starts delayed replacements (DESIGN §8, restart supervisor). When a task ends, the replicated and global
/// orchestrators shut it down and — as <see cref="Decide"/> rules — create its replacement in the same slot (on the
/// same node) with desired state READY: it is allocated, scheduled and prepared, but not started. This loop moves
/// it to RUNNING once its restart delay has passed since it was created, and the task it replaces has stopped (or its
/// node is DOWN or gone, or <see cref="OrchestratorOptions.OldTaskTimeout"/> has passed too). Everything it waits on
/// is in the store (the task's creation time, its policy, the old task's state), so a new leader resumes pending
/// delays where the old one left them. Due tasks are promoted together, in one batch.
/// </summary>
public sealed partial class RestartSupervisor
{
    private readonly OrchestratorLoop _loop;
    private readonly HashSet<string> _delayed = new(StringComparer.Ordinal);
    private int _promotions;
    private WatchOrTimer? _wait;

    public RestartSupervisor(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILogger<RestartSupervisor>? logger = null) =>
        _loop = new OrchestratorLoop(nameof(RestartSupervisor), store, options, time, logger);

    /// <summary>Replacements started so far (tests wait on it).</summary>
    internal int Promotions => Volatile.Read(ref _promotions);

    /// <summary>When the armed timer is due (UTC ticks; 0 while none is): tests move fake time only once the timer
    /// exists, or it would be armed after the move and fire late.</summary>
    internal long ArmedUntil => Volatile.Read(ref _wait)?.ArmedUntil ?? 0;

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes.
    /// Unlike the other loops it is not debounced: it wakes when the next delayed replacement is due.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var (view, watcher) = _loop.Store.ViewAndWatch(new WatchOptions { Filter = OrchestratorIndex.Filter, Capacity = int.MaxValue });
        using (watcher)
        {
            _loop.Index.Load(view);
            _delayed.Clear();
            foreach (var task in _loop.Index.Tasks.Values)
            {
                Track(task);
            }

            OrchestratorLog.RestartSupervisorStarted(_loop.Logger, _delayed.Count);
            try
            {
                await LoopAsync(watcher, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            finally
            {
                OrchestratorLog.Stopped(_loop.Logger, _loop.Name);
            }
        }
    }

    private async Task LoopAsync(StoreWatcher watcher, CancellationToken cancellationToken)
    {
        var wait = new WatchOrTimer(watcher, _loop.Time);
        Volatile.Write(ref _wait, wait);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            while (watcher.TryRead(out var e))
            {
                _loop.Index.Apply(e);
                if (e.Target is SwarmTask task)
                {
                    if (e.Kind == StoreEventKind.Delete)
                    {
                        _delayed.Remove(task.Id);
                    }
                    else
                    {
                        Track(task);
                    }
                }
            }

            var now = _loop.Time.GetUtcNow();
            var (due, next) = Collect(now);
            if (due.Count > 0)
            {
                var plan = new WritePlan();
                foreach (var task in due)
                {
                    plan.Raise(task, TaskState.Running);
                }

                var commits = await plan.CommitAsync(_loop.Store, cancellationToken);
                Interlocked.Add(ref _promotions, plan.Raised);
                OrchestratorLog.Promoted(_loop.Logger, plan.Raised, commits);
                continue;
            }

            if (!await wait.WaitAsync(next, cancellationToken))
            {
                return;
            }
        }
    }

    /// <summary>A replacement waiting to start: desired READY, of a service, not stopped.</summary>
    private void Track(SwarmTask task)
    {
        if (task.DesiredState == TaskState.Ready && task.ServiceId.Length > 0 && !TaskFacts.IsTerminal(task))
        {
            _delayed.Add(task.Id);
        }
        else
        {
            _delayed.Remove(task.Id);
        }
    }

    /// <summary>The waiting replacements due now, and when the next one may be.</summary>
    private (List<SwarmTask> Due, DateTimeOffset? Next) Collect(DateTimeOffset now)
    {
        var due = new List<SwarmTask>();
        DateTimeOffset? next = null;
        void Later(DateTimeOffset at) => next = next is { } n && n <= at ? n : at;
        foreach (var id in _delayed)
        {
            var task = _loop.Index.Tasks[id];
            if (!_loop.Index.Services.ContainsKey(task.ServiceId))
            {
                // The service is going away: the reaper removes its tasks.
                continue;
            }

            var dueAt = TaskFacts.CreatedAt(task) + DelayOf(task.Spec);
            if (now < dueAt)
            {
                Later(dueAt);
                continue;
            }

            var forcedAt = dueAt + _loop.Options.OldTaskTimeout;
            if (now < forcedAt && ReplacesARunningTask(task))
            {
                Later(forcedAt);
                continue;
            }

            due.Add(task);
        }

        return (due, next);
    }

    /// <summary>Another task of the same slot (global: of the service on the node) is being stopped and has not
    /// stopped yet, on a node that may still report it.</summary>
    private bool ReplacesARunningTask(SwarmTask task)
    {
        var siblings = task.Slot > 0
            ? _loop.Index.TasksInSlot(task.ServiceId, task.Slot)
            : _loop.Index.TasksOn(task.NodeId).Where(t => t.ServiceId == task.ServiceId);
        foreach (var other in siblings)
        {
            if (other.Id != task.Id && other.DesiredState > TaskState.Running && !TaskFacts.IsTerminal(other)
                && other.NodeId.Length > 0 && !TaskFacts.IsDown(_loop.Index.NodeOf(other)))
            {
                return true;
            }
        }

        return false;
    }
}
