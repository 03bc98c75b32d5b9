using Google.Protobuf.WellKnownTypes;
using Shoal.Api;

namespace Shoal.Store;

/// <summary>
/// The cluster state, in memory: one table per object kind with secondary indexes. Reads are lock-free views of an
/// immutable state; writes are serialized transactions that, with an <see cref="IProposer"/> attached, become visible
/// only once consensus committed them. Every commit is published to watchers in order, with no gaps.
/// </summary>
public sealed class MemoryStore : IDisposable
{
    private readonly IProposer? _proposer;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Lock _publishLock = new();
    private readonly WatchQueue _watchers;
    private StoreRoot _root = StoreRoot.Empty;
    private bool _disposed;

    /// <param name="proposer">Consensus to commit through; null applies writes directly (tests, tools), with versions
    /// from a local counter.</param>
    /// <param name="timeProvider">Clock for <c>meta.created_at</c> and <c>updated_at</c>.</param>
    /// <param name="options">Batch limits.</param>
    public MemoryStore(IProposer? proposer = null, TimeProvider? timeProvider = null, StoreOptions? options = null)
    {
        _proposer = proposer;
        _timeProvider = timeProvider ?? TimeProvider.System;
        Options = options ?? new StoreOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxChangesPerTransaction, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxTransactionBytes, 1, nameof(options));
        _watchers = new WatchQueue(_publishLock);
    }

    public StoreOptions Options { get; }

    /// <summary>The version of the last committed transaction.</summary>
    public ulong Version => Volatile.Read(ref _root).Version;

    /// <summary>Number of open watchers.</summary>
    public int WatcherCount => _watchers.Count;

    /// <summary>A consistent view of the current state. O(1); it never changes afterwards.</summary>
    public ReadTransaction View() => new(Volatile.Read(ref _root));

    public TResult View<TResult>(Func<ReadTransaction, TResult> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        return read(View());
    }

    /// <summary>Runs <paramref name="update"/> as one transaction and commits it. If the callback throws, or the
    /// proposer fails, the store is unchanged and the exception propagates.</summary>
    public async ValueTask UpdateAsync(Action<WriteTransaction> update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        await UpdateAsync<object?>(tx =>
        {
            update(tx);
            return null;
        }, cancellationToken);
    }

    /// <inheritdoc cref="UpdateAsync(Action{WriteTransaction}, CancellationToken)"/>
    public async ValueTask<TResult> UpdateAsync<TResult>(Func<WriteTransaction, TResult> update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var tx = Begin(measure: false);
            try
            {
                var result = update(tx);
                await CommitAsync(tx, tx.Changes, tx.Tables, cancellationToken);
                return result;
            }
            finally
            {
                tx.Close();
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Many small updates packed into as few transactions as the limits allow (≤ <see cref="StoreOptions.MaxChangesPerTransaction"/>
    /// changes and ≤ <see cref="StoreOptions.MaxTransactionBytes"/> each). Each <see cref="Batch.UpdateAsync"/> callback
    /// is atomic; different callbacks may land in different transactions. If <paramref name="work"/> throws, the callbacks
    /// that completed are committed before the exception propagates. Returns the number of transactions committed.
    /// </summary>
    public async ValueTask<int> BatchAsync(Func<Batch, ValueTask> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var batch = new Batch(this, cancellationToken);
        try
        {
            try
            {
                await work(batch);
            }
            catch
            {
                // Callbacks that completed stand, as they would had the batch been cut just before the failure.
                await FlushQuietlyAsync(batch);
                throw;
            }

            await batch.FlushAsync();
        }
        finally
        {
            batch.Abandon();
        }

        return batch.Commits;
    }

    private static async ValueTask FlushQuietlyAsync(Batch batch)
    {
        try
        {
            await batch.FlushAsync();
        }
        catch (Exception)
        {
            // The caller's exception is the one to report; an open transaction that could not commit is dropped.
        }
    }

    /// <summary>Subscribes to events of transactions committed from now on.</summary>
    public StoreWatcher Watch(WatchOptions? options = null)
    {
        lock (_publishLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _watchers.Add(options ?? new WatchOptions());
        }
    }

    /// <summary>A view and a watcher that starts exactly after it: applying the watcher's events to the view gives
    /// every later state, with nothing missed and nothing twice.</summary>
    public (ReadTransaction View, StoreWatcher Watcher) ViewAndWatch(WatchOptions? options = null)
    {
        lock (_publishLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return (new ReadTransaction(_root), _watchers.Add(options ?? new WatchOptions()));
        }
    }

    /// <summary>The whole store as one snapshot message (for Raft snapshots). It shares the store's objects:
    /// serialize it, do not modify it.</summary>
    public StoreSnapshot Save() => Save(View());

    /// <summary>A snapshot of the given view.</summary>
    public static StoreSnapshot Save(ReadTransaction view)
    {
        var snapshot = new StoreSnapshot { Version = view.Version };
        foreach (var table in view.Root.Tables)
        {
            table.SaveTo(snapshot);
        }

        return snapshot;
    }

    /// <summary>Replaces the whole state with <paramref name="snapshot"/> (a Raft snapshot install or a restart).
    /// Watchers receive the difference as ordinary events. The store takes ownership of the snapshot's objects.</summary>
    public void Restore(StoreSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_publishLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var events = new List<StoreEvent>();
            var tables = new ITable[StoreObjectKinds.Count];
            for (var i = 0; i < tables.Length; i++)
            {
                tables[i] = _root.Tables[i].RestoreFrom(snapshot, events);
            }

            Volatile.Write(ref _root, new StoreRoot(tables, snapshot.Version));
            _watchers.Publish(events, snapshot.Version);
        }
    }

    /// <summary>
    /// Applies a committed log entry that no local transaction waits for (every entry on a follower; entries of earlier
    /// terms on a leader). Actions apply as they are: checks were made by the leader that proposed them. Objects are
    /// copied, then stamped with <paramref name="version"/>.
    /// </summary>
    public void ApplyStoreActions(IReadOnlyList<StoreAction> actions, ulong version)
    {
        ArgumentNullException.ThrowIfNull(actions);
        lock (_publishLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var events = new List<StoreEvent>(actions.Count);
            Volatile.Write(ref _root, ApplyLocked(_root, actions, version, events));
            _watchers.Publish(events, version);
        }
    }

    /// <summary>Closes every watcher. Writes after this throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_publishLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _watchers.CloseAll();
    }

    internal WriteTransaction Begin(bool measure) => new(Volatile.Read(ref _root), Timestamp.FromDateTimeOffset(_timeProvider.GetUtcNow()), measure);

    internal SemaphoreSlim WriteLock => _writeLock;

    /// <summary>Commits <paramref name="changes"/> whose resulting tables are <paramref name="tables"/>, built on
    /// <c>tx.Base</c>. Afterwards <c>tx.Base</c> is the published root if the tables are exactly it.</summary>
    internal async ValueTask CommitAsync(WriteTransaction tx, List<Change> changes, ITable[] tables, CancellationToken cancellationToken)
    {
        if (changes.Count == 0)
        {
            return;
        }

        if (_proposer is null)
        {
            Publish(tx, changes, tables, null);
            return;
        }

        var actions = ActionsOf(changes);
        var committed = false;
        void OnCommitted(ulong index)
        {
            Publish(tx, changes, tables, index);
            committed = true;
        }

        // The version the transaction's checks were made against, when it is still known: the proposer refuses the
        // entry if the store has moved past it by the time the entry would enter the log.
        if (tx.Base is { } checkedAgainst)
        {
            await _proposer.ProposeAsync(actions, checkedAgainst.Version, OnCommitted, cancellationToken);
        }
        else
        {
            await _proposer.ProposeAsync(actions, OnCommitted, cancellationToken);
        }

        if (!committed)
        {
            throw new InvalidOperationException("the proposer completed a proposal without reporting it committed");
        }
    }

    private void Publish(WriteTransaction tx, List<Change> changes, ITable[] tables, ulong? committedIndex)
    {
        lock (_publishLock)
        {
            var root = _root;
            var version = committedIndex ?? root.Version + 1;
            var events = new List<StoreEvent>(changes.Count);
            if (ReferenceEquals(root, tx.Base))
            {
                foreach (var change in changes)
                {
                    if (change.ActionKind != StoreActionKind.Remove)
                    {
                        // The transaction's private copies become the published instances: stamp the final version.
                        change.Object.Meta.Version = version;
                    }

                    events.Add(change.ActionKind switch
                    {
                        StoreActionKind.Create => StoreEvent.Created(change.Kind, change.Object, version),
                        StoreActionKind.Update => StoreEvent.Updated(change.Kind, change.Object, change.Old!, version),
                        _ => StoreEvent.Deleted(change.Kind, change.Object, version),
                    });
                }

                root = new StoreRoot((ITable[])tables.Clone(), version);
                tx.Base = root;
            }
            else
            {
                // Another committed entry was applied while this one was in flight: apply ours after it, exactly as a
                // follower applies the log, so every manager ends in the same state.
                root = ApplyLocked(root, ActionsOf(changes), version, events);
                tx.Base = null;
            }

            Volatile.Write(ref _root, root);
            _watchers.Publish(events, version);
        }
    }

    private static StoreAction[] ActionsOf(List<Change> changes)
    {
        var actions = new StoreAction[changes.Count];
        for (var i = 0; i < actions.Length; i++)
        {
            actions[i] = changes[i].Action;
        }

        return actions;
    }

    private static StoreRoot ApplyLocked(StoreRoot root, IReadOnlyList<StoreAction> actions, ulong version, List<StoreEvent> events)
    {
        var tables = (ITable[])root.Tables.Clone();
        foreach (var action in actions)
        {
            var kind = action.TargetCase switch
            {
                StoreAction.TargetOneofCase.Node => StoreObjectKind.Node,
                StoreAction.TargetOneofCase.Service => StoreObjectKind.Service,
                StoreAction.TargetOneofCase.Task => StoreObjectKind.Task,
                StoreAction.TargetOneofCase.Cluster => StoreObjectKind.Cluster,
                StoreAction.TargetOneofCase.Network => StoreObjectKind.Network,
                StoreAction.TargetOneofCase.Secret => StoreObjectKind.Secret,
                StoreAction.TargetOneofCase.Config => StoreObjectKind.Config,
                _ => throw new InvalidStoreObjectException("a store action carries no object"),
            };
            tables[(int)kind] = tables[(int)kind].Apply(action, version, events);
        }

        return new StoreRoot(tables, version);
    }
}
