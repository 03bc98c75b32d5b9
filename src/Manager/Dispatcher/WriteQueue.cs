namespace Shoal.Manager.Dispatcher;

/// <summary>
/// Gathers keyed writes for one interval (or until <c>maxItems</c> are waiting) and hands them over in one call, so
/// that many nodes registering, dying or reporting at once become a few store batches. A later item for a key is
/// merged with the waiting one. Callers await the commit of the batch that took their items.
/// </summary>
internal sealed class WriteQueue<TKey, TItem> : IDisposable
    where TKey : notnull
{
    private readonly Func<IReadOnlyList<TItem>, CancellationToken, Task> _write;
    private readonly Func<TItem, TItem, TItem> _merge;
    private readonly TimeSpan _interval;
    private readonly int _maxItems;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _wake = new(0);
    private Dictionary<TKey, TItem> _pending = [];
    private TaskCompletionSource _committed = NewSignal();
    private TaskCompletionSource _full = NewSignal();
    private bool _closed;

    /// <param name="write">Commits one batch.</param>
    /// <param name="merge">Combines the waiting item for a key (first) with a new one (second).</param>
    /// <param name="interval">How long items are gathered after the first one of a batch.</param>
    /// <param name="maxItems">Waiting items that flush the batch at once.</param>
    /// <param name="time">The clock of the interval.</param>
    public WriteQueue(Func<IReadOnlyList<TItem>, CancellationToken, Task> write, Func<TItem, TItem, TItem> merge, TimeSpan interval, int maxItems, TimeProvider time)
    {
        _write = write;
        _merge = merge;
        _interval = interval;
        _maxItems = maxItems;
        _time = time;
    }

    /// <summary>Batches committed so far.</summary>
    public int Flushes { get; private set; }

    /// <summary>Queues items; the task completes when the batch holding them is committed, and fails if it was not.</summary>
    public Task EnqueueAsync(IEnumerable<(TKey Key, TItem Item)> items)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return Task.FromException(new OperationCanceledException("the dispatcher stopped before the write was queued"));
            }

            var wasEmpty = _pending.Count == 0;
            foreach (var (key, item) in items)
            {
                _pending[key] = _pending.TryGetValue(key, out var waiting) ? _merge(waiting, item) : item;
            }

            if (_pending.Count == 0)
            {
                return Task.CompletedTask;
            }

            if (wasEmpty)
            {
                _wake.Release();
            }

            if (_pending.Count >= _maxItems)
            {
                _full.TrySetResult();
            }

            return _committed.Task;
        }
    }

    /// <summary>Queues one item.</summary>
    public Task EnqueueAsync(TKey key, TItem item) => EnqueueAsync([(key, item)]);

    /// <summary>Flushes batches until cancelled; then fails whatever is still waiting.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await _wake.WaitAsync(cancellationToken);
                Task full;
                lock (_lock)
                {
                    full = _full.Task;
                }

                using (var delay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    var timer = Task.Delay(_interval, _time, delay.Token);
                    await Task.WhenAny(timer, full);
                    await delay.CancelAsync();
                }

                cancellationToken.ThrowIfCancellationRequested();
                await FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            TaskCompletionSource committed;
            lock (_lock)
            {
                _closed = true;
                committed = _committed;
                _pending = [];
            }

            committed.TrySetException(new OperationCanceledException("the dispatcher stopped before the write was committed"));
        }
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        List<TItem> items;
        TaskCompletionSource committed;
        lock (_lock)
        {
            items = [.. _pending.Values];
            _pending = [];
            committed = _committed;
            _committed = NewSignal();
            _full = NewSignal();
        }

        if (items.Count == 0)
        {
            committed.TrySetResult();
            return;
        }

        try
        {
            await _write(items, cancellationToken);
            Flushes++;
            committed.TrySetResult();
        }
        catch (Exception e)
        {
            committed.TrySetException(e);
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }
        }
    }

    public void Dispose() => _wake.Dispose();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
