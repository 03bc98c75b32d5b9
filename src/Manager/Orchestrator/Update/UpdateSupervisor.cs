using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Manager.Reconciliation;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator.Update;

/// <summary>
/// Rolls replicated and global services onto their current spec (DESIGN §8, update supervisor; SwarmKit's
/// <c>Updater</c>). A slot (global: a node) is dirty while it has a task meant to run that is not
/// <see cref="TaskRules.IsUpToDate"/> and no up-to-date one; the supervisor replaces dirty slots in batches of
/// <c>UpdateConfig.parallelism</c> (0: all at once), waiting <c>delay</c> after the last task of a batch reached
/// RUNNING before the next, in the configured order, watches each new task for <c>monitor</c> after it runs, applies
/// the failure action once failures exceed <c>max_failure_ratio</c> × the slots of the update, and writes
/// <see cref="Service.UpdateStatus"/>: UPDATING when it starts, COMPLETED only once the last new task's monitor window
/// passed; ROLLBACK_STARTED / ROLLBACK_PAUSED / ROLLBACK_COMPLETED for rollbacks (the rollback failure action swaps
/// the previous spec in as the control API's rollback does; a failing rollback pauses, never rolls back again).
/// </summary>
/// <remarks>
/// <para>Everything is derived from the store each pass: which slots are dirty, in flight or done, the update's start
/// (<c>update_status.started_at</c>: tasks of the current spec created since belong to it), failures (such tasks that
/// ended), when the last one reached RUNNING (its status timestamp). A new leader therefore continues an update where
/// the old one left it. Kept in memory only: when a task that has ended since first ran (a task that ended before this
/// loop saw it run counts as a failure of the window) and the next timer.</para>
/// <para>Interplay with the other loops. Stop-first: the old task gets desired SHUTDOWN and its replacement is created
/// in the same transaction with desired READY, so the slot is never empty for the <see cref="ReplicatedOrchestrator"/>
/// (or the <see cref="GlobalOrchestrator"/>), which therefore never adds a task of its own there; this loop raises the
/// replacement to RUNNING as soon as the old task stopped (or its node is down or gone), without the restart delay
/// the <see cref="RestartSupervisor"/> would apply to a READY task (it would raise it too, later: raises only go up).
/// Start-first: the new task is created with desired RUNNING next to the old one (a slot with two active tasks counts
/// once), and the old one gets desired SHUTDOWN once the new one is RUNNING. A new task that fails is the restart
/// policy's, as any task's; its slot counts as updated (failed), not in flight, so a crash-looping version never holds
/// an update with failure action continue.</para>
/// <para>A service whose update is paused or finished is left alone until the control API's next update clears the
/// status (or a rollback sets ROLLBACK_STARTED): an update that completed with failed slots never restarts itself.</para>
/// </remarks>
public sealed partial class UpdateSupervisor
{
    private readonly OrchestratorLoop _loop;
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _wakeAt = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _ranAt = new(StringComparer.Ordinal);
    private int _passes;
    private WatchOrTimer? _wait;
    private ulong _seenVersion;
    private long _passedVersion;

    public UpdateSupervisor(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILogger<UpdateSupervisor>? logger = null) =>
        _loop = new OrchestratorLoop(nameof(UpdateSupervisor), store, options, time, logger);

    /// <summary>Passes completed so far (tests wait on it).</summary>
    internal int PassesCompleted => Volatile.Read(ref _passes);

    /// <summary>The store version of the last event the last completed pass had seen (tests wait for a pass that
    /// saw a given write).</summary>
    internal ulong PassedVersion => (ulong)Volatile.Read(ref _passedVersion);

    /// <summary>When the armed timer is due (UTC ticks; 0 while none is): tests move fake time only once it exists.</summary>
    internal long ArmedUntil => Volatile.Read(ref _wait)?.ArmedUntil ?? 0;

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes.
    /// Every service is checked at start, so an update in progress continues under a new leader.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var (view, watcher) = _loop.Store.ViewAndWatch(new WatchOptions { Filter = OrchestratorIndex.Filter, Capacity = int.MaxValue });
        using (watcher)
        {
            _loop.Index.Load(view);
            _dirty.Clear();
            _wakeAt.Clear();
            _ranAt.Clear();
            _dirty.UnionWith(_loop.Index.Services.Keys);
            foreach (var task in _loop.Index.Tasks.Values)
            {
                Track(task);
            }

            var inProgress = _loop.Index.Services.Values.Count(s => IsInProgress(s.UpdateStatus));
            UpdateLog.Started(_loop.Logger, _loop.Index.Services.Count, inProgress);
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

    private static bool IsInProgress(UpdateStatus? status) =>
        status?.State is UpdateState.Updating or UpdateState.RollbackStarted;

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
                Apply(e);
                _seenVersion = Math.Max(_seenVersion, e.Version);
            }

            var now = _loop.Time.GetUtcNow();
            foreach (var (serviceId, at) in _wakeAt)
            {
                if (at <= now)
                {
                    _dirty.Add(serviceId);
                }
            }

            if (_dirty.Count > 0)
            {
                await PassAsync(now, cancellationToken);
                continue;
            }

            if (!await wait.WaitAsync(_wakeAt.Count > 0 ? _wakeAt.Values.Min() : (DateTimeOffset?)null, cancellationToken))
            {
                return;
            }
        }
    }

    private async Task PassAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var plan = new UpdatePlan();
        var services = _dirty.Count;
        foreach (var serviceId in _dirty)
        {
            _wakeAt.Remove(serviceId);
            if (_loop.Index.Services.TryGetValue(serviceId, out var service)
                && Evaluate(service, plan, now) is { } wakeAt)
            {
                _wakeAt[serviceId] = wakeAt;
            }
        }

        _dirty.Clear();
        var commits = await plan.CommitAsync(_loop.Store, cancellationToken);
        UpdateLog.Pass(_loop.Logger, services, plan.Written, commits);
        Volatile.Write(ref _passedVersion, (long)_seenVersion);
        Interlocked.Increment(ref _passes);
    }

    private void Apply(StoreEvent e)
    {
        switch (e.Target)
        {
            case Service service when e.Kind == StoreEventKind.Delete:
                _dirty.Remove(service.Id);
                _wakeAt.Remove(service.Id);
                break;
            case Service service:
                _dirty.Add(service.Id);
                break;
            case SwarmTask task when e.Kind == StoreEventKind.Delete:
                _ranAt.Remove(task.Id);
                break;
            case SwarmTask task:
                Track(task);
                if (task.ServiceId.Length > 0 && _loop.Index.Services.ContainsKey(task.ServiceId))
                {
                    _dirty.Add(task.ServiceId);
                }

                break;
            case Node node when e.Kind == StoreEventKind.Delete || (e.Old is Node old
                && (old.Status?.State != node.Status?.State || old.Spec?.Availability != node.Spec?.Availability)):
                _dirty.UnionWith(_loop.Index.ServicesOn(node.Id));
                break;
        }
    }

    /// <summary>Remembers when a task was first seen RUNNING (its status time then).</summary>
    private void Track(SwarmTask task)
    {
        if (TaskFacts.StateOf(task) == TaskState.Running && !_ranAt.ContainsKey(task.Id))
        {
            _ranAt[task.Id] = TaskFacts.StatusAt(task);
        }
    }
}
