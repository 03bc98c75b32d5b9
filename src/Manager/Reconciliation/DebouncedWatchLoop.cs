using Shoal.Store;

namespace Shoal.Manager.Reconciliation;

/// <summary>
/// The event loop the leader's reconcilers share (DESIGN §8, CONVENTIONS habit 8): it feeds every store event to the
/// component's index, and runs a pass once the commits that mattered have been quiet for the debounce gap, or at the
/// latest the maximum latency after the first of them. Work found at start runs at once.
/// </summary>
internal sealed class DebouncedWatchLoop
{
    /// <summary>The events the component follows (commit markers are added).</summary>
    public required StoreEventFilter Filter { get; init; }

    /// <summary>Builds the component's index from the snapshot the watch starts at.</summary>
    public required Action<ReadTransaction> Load { get; init; }

    /// <summary>Called once the index is built (the component logs that it started).</summary>
    public Action OnStarted { get; init; } = () => { };

    /// <summary>Called when the loop ends, however it ends.</summary>
    public Action OnStopped { get; init; } = () => { };

    /// <summary>Applies one (non-commit) event to the component's index; true when it may give the component work.</summary>
    public required Func<StoreEvent, bool> Apply { get; init; }

    /// <summary>Whether the component has anything to do now.</summary>
    public required Func<bool> HasWork { get; init; }

    /// <summary>One pass; true asks for another pass after the gap (e.g. conflicting decisions queued again).</summary>
    public required Func<CancellationToken, Task<bool>> PassAsync { get; init; }

    /// <summary>Called for each commit that carried a relevant event (the component counts them).</summary>
    public Action OnRelevantCommit { get; init; } = () => { };

    public required TimeProvider Time { get; init; }

    public required TimeSpan QuietGap { get; init; }

    public required TimeSpan MaxLatency { get; init; }

    /// <summary>
    /// Watches <paramref name="store"/> from a snapshot, with an unbounded queue (one transaction may create 100,000
    /// tasks, all of which the component must see), until <paramref name="cancellationToken"/> is cancelled (leadership
    /// lost) or the store closes.
    /// </summary>
    public async Task RunAsync(MemoryStore store, CancellationToken cancellationToken)
    {
        var (view, watcher) = store.ViewAndWatch(new WatchOptions { Filter = Filter, IncludeCommits = true, Capacity = int.MaxValue });
        using (watcher)
        {
            Load(view);
            OnStarted();
            try
            {
                await LoopAsync(watcher, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            finally
            {
                OnStopped();
            }
        }
    }

    private async Task LoopAsync(StoreWatcher watcher, CancellationToken cancellationToken)
    {
        DateTimeOffset? firstChange = HasWork() ? Time.GetUtcNow() - MaxLatency : null;
        var lastCommit = firstChange ?? DateTimeOffset.MinValue;
        var changed = false;
        Task<bool>? waiting = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            while (watcher.TryRead(out var e))
            {
                if (e.Kind != StoreEventKind.Commit)
                {
                    changed |= Apply(e);
                }
                else if (changed)
                {
                    changed = false;
                    lastCommit = Time.GetUtcNow();
                    firstChange ??= lastCommit;
                    OnRelevantCommit();
                }
            }

            if (!HasWork())
            {
                firstChange = null;
            }

            TimeSpan? wait = null;
            var due = DateTimeOffset.MaxValue;
            if (firstChange is { } first)
            {
                var now = Time.GetUtcNow();
                due = Min(lastCommit + QuietGap, first + MaxLatency);
                if (due <= now)
                {
                    firstChange = null;
                    if (await PassAsync(cancellationToken))
                    {
                        lastCommit = Time.GetUtcNow();
                        firstChange = lastCommit;
                    }

                    continue;
                }

                wait = due - now;
            }

            waiting ??= watcher.WaitToReadAsync(cancellationToken).AsTask();
            if (wait is { } timeout && !waiting.IsCompleted)
            {
                using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var delay = Task.Delay(timeout, Time, delayCancel.Token);
                if (Time.GetUtcNow() >= due)
                {
                    // The clock passed the due time between reading it and arming the timer (which counts from when it
                    // is armed): pass now rather than a whole timeout late.
                    await delayCancel.CancelAsync();
                    continue;
                }

                var done = await Task.WhenAny(waiting, delay);
                await delayCancel.CancelAsync();
                if (done != waiting)
                {
                    continue;
                }
            }

            if (!await waiting)
            {
                return;
            }

            waiting = null;
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
