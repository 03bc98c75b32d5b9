using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Manager.Reconciliation;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// What the orchestration loops share (DESIGN §8): their dependencies, their own <see cref="OrchestratorIndex"/> of
/// the store, the <see cref="DebouncedWatchLoop"/> that keeps it current and runs their passes, and the commit, log
/// and count that end a pass. Each loop owns one and keeps only its own logic: what it marks dirty at start and on an
/// event, and what a pass plans. The <see cref="RestartSupervisor"/> waits on time rather than on quiet, so it runs
/// its own loop and uses only the dependencies and the index. This is a member rather than a base class because the
/// loops are public sealed types and this scaffolding is not part of the public API.
/// </summary>
internal sealed class OrchestratorLoop
{
    private int _passesCompleted;

    /// <param name="name">The loop's name in the logs (its type's name).</param>
    /// <param name="store">The store the loop follows and writes to.</param>
    /// <param name="options">Its timing; defaults when null, validated either way.</param>
    /// <param name="time">The system clock when null.</param>
    /// <param name="logger">No logging when null.</param>
    public OrchestratorLoop(string name, MemoryStore store, OrchestratorOptions? options, TimeProvider? time, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(store);
        Name = name;
        Store = store;
        Options = options ?? new OrchestratorOptions();
        Options.Validate();
        Time = time ?? TimeProvider.System;
        Logger = logger ?? NullLogger.Instance;
    }

    public string Name { get; }

    public MemoryStore Store { get; }

    public OrchestratorOptions Options { get; }

    public TimeProvider Time { get; }

    public ILogger Logger { get; }

    /// <summary>The loop's copy of the store: loaded from the watch's snapshot, then kept current by every event
    /// before the loop sees it.</summary>
    public OrchestratorIndex Index { get; } = new();

    /// <summary>Passes whose writes are committed (tests wait on it).</summary>
    public int PassesCompleted => Volatile.Read(ref _passesCompleted);

    /// <summary>Transactions the last pass committed.</summary>
    public int LastPassCommits { get; private set; }

    /// <summary>
    /// Follows the store until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes,
    /// logging when it starts and stops. A pass runs once the commits that gave work have been quiet for
    /// <paramref name="quietGap"/>, and at the latest <see cref="OrchestratorOptions.MaxLatency"/> (never less than the
    /// gap) after the first of them; work found at start runs at once.
    /// </summary>
    /// <param name="load">Called once <see cref="Index"/> holds the snapshot: resets the loop's own state and marks
    /// what it must check at start (after a failover, everything it is responsible for).</param>
    /// <param name="apply">Called for each event once <see cref="Index"/> applied it; true when it gave the loop work.</param>
    /// <param name="hasWork">Whether the loop has anything to do now.</param>
    /// <param name="plan">Plans one pass's writes from the loop's work and clears it; returns how many items (services,
    /// nodes, pairs…) it looked at, for the log. The writes are committed in one batch.</param>
    /// <param name="quietGap">The debounce gap.</param>
    /// <param name="cancellationToken">Cancelled when leadership is lost.</param>
    public Task RunAsync(
        Action load,
        Func<StoreEvent, bool> apply,
        Func<bool> hasWork,
        Func<WritePlan, int> plan,
        TimeSpan quietGap,
        CancellationToken cancellationToken) => new DebouncedWatchLoop
        {
            Filter = OrchestratorIndex.Filter,
            Load = view =>
            {
                Index.Load(view);
                load();
            },
            OnStarted = () => OrchestratorLog.Started(Logger, Name, Index.Services.Count, Index.Nodes.Count, Index.Tasks.Count),
            OnStopped = () => OrchestratorLog.Stopped(Logger, Name),
            Apply = e =>
            {
                Index.Apply(e);
                return apply(e);
            },
            HasWork = hasWork,
            PassAsync = cancellation => PassAsync(plan, cancellation),
            Time = Time,
            QuietGap = quietGap,
            MaxLatency = Options.MaxLatency < quietGap ? quietGap : Options.MaxLatency,
        }.RunAsync(Store, cancellationToken);

    private async Task<bool> PassAsync(Func<WritePlan, int> plan, CancellationToken cancellationToken)
    {
        var writes = new WritePlan();
        var items = plan(writes);
        LastPassCommits = await writes.CommitAsync(Store, cancellationToken);
        OrchestratorLog.Pass(Logger, Name, items, writes.Created, writes.Raised, writes.Deleted, LastPassCommits);
        Interlocked.Increment(ref _passesCompleted);

        // Never another pass by itself: a write dropped because its reason no longer held comes with the watch event
        // that changed it, which brings the next pass.
        return false;
    }
}
