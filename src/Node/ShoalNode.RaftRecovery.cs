using Microsoft.Extensions.Logging;
using Shoal.Manager;

namespace Shoal.Node;

public sealed partial class ShoalNode
{
    private readonly Lock _raftFailureLock = new();
    private int _raftFailures;
    private DateTimeOffset _lastRaftFailure = DateTimeOffset.MinValue;

    /// <summary>
    /// Watches a manager part's Raft member: should it stop on its own — it could not persist (disk full, I/O error)
    /// and so can promise nothing any more — the manager part is stopped and started again from its files, as after a
    /// restart of the node (a torn last write is cut away on open). The first restart comes 1 s after the failure (the
    /// stopped member answers every request with the cause meanwhile); failures that
    /// repeat within a minute double the wait, up to 30 s, so a disk that stays full is retried without a busy loop.
    /// Meanwhile the node reports the error with its cause, and every write through it fails at once naming it.
    /// </summary>
    private void WatchRaft(Membership membership, SwarmManager manager) =>
        _ = manager.Raft.Completion.ContinueWith(
            stopped =>
            {
                if (stopped.IsFaulted && !_stopping.IsCancellationRequested)
                {
                    OnRaftStopped(membership, manager, manager.Raft.Failure ?? stopped.Exception!.GetBaseException());
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    private void OnRaftStopped(Membership membership, SwarmManager manager, Exception cause)
    {
        TimeSpan delay;
        lock (_raftFailureLock)
        {
            var now = _options.TimeProvider.GetUtcNow();
            _raftFailures = now - _lastRaftFailure < TimeSpan.FromMinutes(1) ? _raftFailures + 1 : 0;
            _lastRaftFailure = now;
            delay = RetryDelay(_raftFailures);
        }

        SetError($"this manager's Raft member stopped: {cause.Message}; it restarts from its files in {delay.TotalSeconds:0} s (fix the cause: e.g. free disk space)");
        LogRaftStopped(_logger, cause.Message, delay.TotalSeconds, cause);
        _ = Task.Run(async () =>
        {
            try
            {
                // The stopped member keeps answering every request at once with the cause until the manager part
                // is replaced; the calls in flight when it stopped get their answers before their channel goes.
                await Task.Delay(delay, _options.TimeProvider, _stopping.Token).ConfigureAwait(false);
                await _gate.WaitAsync(_stopping.Token).ConfigureAwait(false);
                try
                {
                    if (!ReferenceEquals(_membership, membership) || !ReferenceEquals(membership.Manager, manager))
                    {
                        return;
                    }

                    membership.SetManager(null);
                    await manager.DisposeAsync().ConfigureAwait(false);
                }
                finally
                {
                    _gate.Release();
                }

                // The role reconcile starts the manager part again from its Raft state (and retries with its own backoff).
                ScheduleRoleReconcile();
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
            }
        });
    }

    /// <summary>The wait before retrying a manager-part change after <paramref name="attempt"/> failures: 1 s, doubling to 30 s.</summary>
    private static TimeSpan RetryDelay(int attempt) => TimeSpan.FromSeconds(Math.Min(30, 1 << Math.Min(attempt, 5)));

    [LoggerMessage(EventId = 9015, Level = LogLevel.Error, Message = "This manager's Raft member stopped ({Cause}): the manager part stops and restarts from its files in {Seconds} s")]
    private static partial void LogRaftStopped(ILogger logger, string cause, double seconds, Exception exception);
}
