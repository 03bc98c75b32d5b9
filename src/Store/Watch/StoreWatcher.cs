using System.Threading.Channels;

namespace Shoal.Store;

/// <summary>
/// A subscription to store events. Events arrive in commit order with no gaps. A watcher that leaves more than its
/// capacity unread is closed with <see cref="WatcherOverflowException"/> (after the events it already has), so
/// writers never wait for readers. Dispose it to unsubscribe.
/// </summary>
public sealed class StoreWatcher : IDisposable
{
    private readonly Channel<StoreEvent> _channel = Channel.CreateUnbounded<StoreEvent>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = false });

    private readonly WatchQueue _queue;
    private readonly StoreEventFilter? _filter;
    private readonly bool _includeCommits;
    private readonly int _capacity;
    private int _unread;
    private bool _closed;

    internal StoreWatcher(WatchQueue queue, WatchOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Capacity, 1, nameof(options));
        _queue = queue;
        _filter = options.Filter;
        _includeCommits = options.IncludeCommits;
        _capacity = options.Capacity;
    }

    /// <summary>Waits for the next event. Throws <see cref="WatcherOverflowException"/> once the watcher was closed for
    /// falling behind, and <see cref="ChannelClosedException"/> once it was disposed or the store closed.</summary>
    public async ValueTask<StoreEvent> ReadAsync(CancellationToken cancellationToken = default)
    {
        var e = await _channel.Reader.ReadAsync(cancellationToken);
        Interlocked.Decrement(ref _unread);
        return e;
    }

    /// <summary>Takes the next event if one is waiting.</summary>
    public bool TryRead(out StoreEvent storeEvent)
    {
        if (_channel.Reader.TryRead(out storeEvent!))
        {
            Interlocked.Decrement(ref _unread);
            return true;
        }

        return false;
    }

    /// <summary>Waits until an event can be read; false once the watcher is closed and drained.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _channel.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Every event until the watcher closes (an overflow surfaces as <see cref="WatcherOverflowException"/>).</summary>
    public async IAsyncEnumerable<StoreEvent> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await _channel.Reader.WaitToReadAsync(cancellationToken))
        {
            while (TryRead(out var e))
            {
                yield return e;
            }
        }
    }

    /// <summary>Events this watcher may leave unread before it is closed.</summary>
    public int Capacity => _capacity;

    /// <summary>Completes when the watcher is closed (disposed, overflowed or the store closed).</summary>
    public Task Completion => _channel.Reader.Completion;

    public void Dispose() => _queue.Remove(this, null);

    /// <summary>Delivers one event. Runs under the queue's publish lock: one writer at a time.</summary>
    internal bool Offer(StoreEvent e)
    {
        if (_closed)
        {
            return false;
        }

        if (e.Kind == StoreEventKind.Commit ? !_includeCommits : _filter is not null && !_filter(e))
        {
            return true;
        }

        if (Interlocked.Increment(ref _unread) > _capacity)
        {
            return false;
        }

        return _channel.Writer.TryWrite(e);
    }

    internal void Close(Exception? error)
    {
        _closed = true;
        _channel.Writer.TryComplete(error);
    }
}
