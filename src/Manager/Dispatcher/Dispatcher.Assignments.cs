using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.Dispatcher;

public sealed partial class Dispatcher
{
    /// <summary>
    /// Streams the node's assignments through <paramref name="send"/>: first the complete set, then increments of at
    /// most <see cref="DispatcherOptions.MaxAssignmentChanges"/> changes gathered for at most
    /// <see cref="DispatcherOptions.AssignmentsInterval"/>. Ends (with a <see cref="DispatcherException"/>) when the
    /// session does or the dispatcher stops.
    /// </summary>
    /// <remarks>
    /// The set is every task with <c>node_id</c> = the node and <c>status.state</c> ≥ ASSIGNED, whatever its desired
    /// state: a task the managers want stopped or removed (desired SHUTDOWN or REMOVE) stays in the set so that the
    /// agent stops it and reports how it ended; it leaves the set (a REMOVE change) when it is deleted from the store.
    /// Updates that change only what the agent itself reported (status and meta, once past ASSIGNED) are not sent.
    /// </remarks>
    public async Task RunAssignmentsAsync(string nodeId, string sessionId, Func<AssignmentsMessage, CancellationToken, Task> send, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(send);
        var run = RequireRun();
        var session = run.Find(nodeId, sessionId);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, session.Ended.Token);
        var token = linked.Token;
        var (view, watcher) = _store.ViewAndWatch(new WatchOptions
        {
            Filter = e => e.Target is SwarmTask task && task.NodeId == nodeId,
        });
        using (watcher)
        {
            try
            {
                var known = new Dictionary<string, SwarmTask>(StringComparer.Ordinal);
                var complete = new AssignmentsMessage { Type = AssignmentsType.AssignmentsComplete, AppliesTo = string.Empty };
                foreach (var task in view.Tasks.ByNode(nodeId))
                {
                    if (InAssignmentSet(task, nodeId))
                    {
                        known[task.Id] = task;
                        complete.Changes.Add(Change(task, AssignmentAction.Update));
                    }
                }

                long sequence = 1;
                complete.ResultsIn = SetVersion(sessionId, sequence);
                await send(complete, token);
                var changes = new Dictionary<string, AssignmentChange>(StringComparer.Ordinal);
                while (true)
                {
                    if (!await watcher.WaitToReadAsync(token))
                    {
                        throw new DispatcherException(DispatcherErrorKind.NotRunning, "the assignments stream lost its view of the store; register again");
                    }

                    await GatherAsync(watcher, nodeId, known, changes, token);
                    if (changes.Count == 0)
                    {
                        continue;
                    }

                    var increment = new AssignmentsMessage
                    {
                        Type = AssignmentsType.AssignmentsIncremental,
                        AppliesTo = SetVersion(sessionId, sequence),
                        ResultsIn = SetVersion(sessionId, ++sequence),
                    };
                    increment.Changes.AddRange(changes.Values);
                    changes.Clear();
                    await send(increment, token);
                }
            }
            catch (OperationCanceledException) when (session.Ended.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw session.EndError();
            }
            catch (WatcherOverflowException)
            {
                throw new DispatcherException(DispatcherErrorKind.NotRunning, "the assignments stream fell behind the store; register again");
            }
        }
    }

    /// <summary>Reads events for one increment: until it holds the most changes allowed or its interval is over.</summary>
    private async Task GatherAsync(StoreWatcher watcher, string nodeId, Dictionary<string, SwarmTask> known, Dictionary<string, AssignmentChange> changes, CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (long)(_options.AssignmentsInterval.TotalSeconds * _time.TimestampFrequency);
        while (changes.Count < _options.MaxAssignmentChanges)
        {
            if (watcher.TryRead(out var e))
            {
                Track(e, nodeId, known, changes);
                continue;
            }

            var remaining = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }

            using var window = new CancellationTokenSource(remaining, _time);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, window.Token);
            try
            {
                if (!await watcher.WaitToReadAsync(either.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (window.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static void Track(StoreEvent e, string nodeId, Dictionary<string, SwarmTask> known, Dictionary<string, AssignmentChange> changes)
    {
        var task = (SwarmTask)e.Target!;
        if (e.Kind != StoreEventKind.Delete && InAssignmentSet(task, nodeId))
        {
            if (known.TryGetValue(task.Id, out var sent) && task.Status.State > TaskState.Assigned && EqualButForStatus(sent, task))
            {
                known[task.Id] = task;
                return;
            }

            known[task.Id] = task;
            changes[task.Id] = Change(task, AssignmentAction.Update);
        }
        else if (known.Remove(task.Id))
        {
            changes[task.Id] = Change(task, AssignmentAction.Remove);
        }
    }

    private static bool InAssignmentSet(SwarmTask task, string nodeId) =>
        task.NodeId == nodeId && task.Status is not null && task.Status.State >= TaskState.Assigned;

    /// <summary>Whether two versions of a task differ only in what the agent reported (its status) and the meta.</summary>
    private static bool EqualButForStatus(SwarmTask a, SwarmTask b)
    {
        var x = a.Clone();
        var y = b.Clone();
        x.Status = null;
        y.Status = null;
        x.Meta = null;
        y.Meta = null;
        return x.Equals(y);
    }

    private static AssignmentChange Change(SwarmTask task, AssignmentAction action) =>
        new() { Assignment = new Assignment { Task = task }, Action = action };

    private static string SetVersion(string sessionId, long sequence) => $"{sessionId}.{sequence}";
}
