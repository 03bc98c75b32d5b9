namespace Shoal.Store;

/// <summary>
/// Packs many small updates into few transactions (one Raft entry each): how one node failure that moves a hundred
/// tasks becomes one write. Each callback is atomic; a transaction is cut when it reaches the change limit, or before
/// a callback would take it over the size limit. The write lock is held from the first callback of a transaction to
/// its commit, so do no slow work between callbacks.
/// </summary>
public sealed class Batch
{
    private readonly MemoryStore _store;
    private readonly CancellationToken _cancellationToken;
    private WriteTransaction? _tx;

    internal Batch(MemoryStore store, CancellationToken cancellationToken)
    {
        _store = store;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Transactions committed so far.</summary>
    public int Commits { get; private set; }

    /// <summary>Runs <paramref name="update"/> atomically inside the batch's current transaction. If it throws, its
    /// own changes are undone, earlier callbacks stand, and the exception propagates.</summary>
    public async ValueTask UpdateAsync(Action<WriteTransaction> update)
    {
        ArgumentNullException.ThrowIfNull(update);
        if (_tx is null)
        {
            await _store.WriteLock.WaitAsync(_cancellationToken);
            _tx = _store.Begin(measure: true);
        }

        var tx = _tx;
        var savepoint = tx.Save();
        try
        {
            update(tx);
        }
        catch
        {
            tx.RollbackTo(savepoint);
            throw;
        }

        var options = _store.Options;
        var over = tx.Changes.Count > options.MaxChangesPerTransaction || tx.Bytes > options.MaxTransactionBytes;
        if (over && savepoint.Changes > 0)
        {
            // This callback would take the transaction over a limit: commit what came before it on its own, and keep
            // the callback's changes (already computed on top of exactly that state) for the next transaction.
            var prefix = tx.Changes.GetRange(0, savepoint.Changes);
            await _store.CommitAsync(tx, prefix, savepoint.Tables, _cancellationToken);
            Commits++;
            tx.Forget(savepoint.Changes, savepoint.Bytes);
            tx.ProvisionalVersion = _store.Version + 1;
        }

        if (tx.Changes.Count >= options.MaxChangesPerTransaction || tx.Bytes >= options.MaxTransactionBytes)
        {
            await FlushAsync();
        }
    }

    /// <summary>Commits the open transaction, if any, and releases the write lock.</summary>
    internal async ValueTask FlushAsync()
    {
        if (_tx is not { } tx)
        {
            return;
        }

        try
        {
            if (tx.Changes.Count > 0)
            {
                await _store.CommitAsync(tx, tx.Changes, tx.Tables, _cancellationToken);
                Commits++;
            }
        }
        finally
        {
            tx.Close();
            _tx = null;
            _store.WriteLock.Release();
        }
    }

    /// <summary>Drops an open transaction after a failure (its changes were never committed).</summary>
    internal void Abandon()
    {
        if (_tx is { } tx)
        {
            tx.Close();
            _tx = null;
            _store.WriteLock.Release();
        }
    }
}
