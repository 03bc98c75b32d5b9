namespace Shoal.Store;

/// <summary>
/// Fans committed events out to the store's watchers. Publishing runs under one lock together with the store's root
/// swap, which is what makes <see cref="MemoryStore.ViewAndWatch"/> gap-free. Each watcher costs one filter call and
/// one lock-free enqueue per event; nothing ever waits for a reader.
/// </summary>
internal sealed class WatchQueue
{
    private readonly Lock _lock;
    private StoreWatcher[] _watchers = [];

    public WatchQueue(Lock publishLock)
    {
        _lock = publishLock;
    }

    public int Count => Volatile.Read(ref _watchers).Length;

    /// <summary>Registers a watcher. The caller holds the publish lock.</summary>
    public StoreWatcher Add(WatchOptions options)
    {
        var watcher = new StoreWatcher(this, options);
        _watchers = [.. _watchers, watcher];
        return watcher;
    }

    public void Remove(StoreWatcher watcher, Exception? error)
    {
        lock (_lock)
        {
            RemoveLocked(watcher, error);
        }
    }

    /// <summary>Delivers a transaction's events. The caller holds the publish lock.</summary>
    public void Publish(List<StoreEvent> events, ulong version)
    {
        var watchers = _watchers;
        if (watchers.Length == 0)
        {
            return;
        }

        var commit = StoreEvent.Committed(version);
        List<StoreWatcher>? overflowed = null;
        foreach (var watcher in watchers)
        {
            var ok = true;
            foreach (var e in events)
            {
                if (!watcher.Offer(e))
                {
                    ok = false;
                    break;
                }
            }

            if (!ok || !watcher.Offer(commit))
            {
                (overflowed ??= []).Add(watcher);
            }
        }

        if (overflowed is not null)
        {
            foreach (var watcher in overflowed)
            {
                RemoveLocked(watcher, new WatcherOverflowException(watcher.Capacity));
            }
        }
    }

    /// <summary>Closes every watcher (the store is closing).</summary>
    public void CloseAll()
    {
        lock (_lock)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Close(null);
            }

            _watchers = [];
        }
    }

    private void RemoveLocked(StoreWatcher watcher, Exception? error)
    {
        var index = Array.IndexOf(_watchers, watcher);
        if (index >= 0)
        {
            _watchers = [.. _watchers[..index], .. _watchers[(index + 1)..]];
        }

        watcher.Close(error);
    }
}
