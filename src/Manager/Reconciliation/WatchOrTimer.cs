using Shoal.Store;

namespace Shoal.Manager.Reconciliation;

/// <summary>
/// The wait of a leader loop that acts both on store events and at due times (the restart supervisor's delayed
/// starts, the update supervisor's batch delays and monitor windows): it returns when the watch has events to read or
/// the next due time has come, whichever is first. One instance per loop run; it keeps the pending read between waits
/// so that no event is lost to a timer that won.
/// </summary>
internal sealed class WatchOrTimer(StoreWatcher watcher, TimeProvider time)
{
    private Task<bool>? _waiting;
    private long _armedUntil;

    /// <summary>The due time (UTC ticks) a wait is armed for now; 0 when none (tests wait on it).</summary>
    public long ArmedUntil => Volatile.Read(ref _armedUntil);

    /// <summary>
    /// Waits until the watch has events or <paramref name="wakeAt"/> (none: events only) has come. Returns false when
    /// the watch ended (the store closed).
    /// </summary>
    public async Task<bool> WaitAsync(DateTimeOffset? wakeAt, CancellationToken cancellationToken)
    {
        _waiting ??= watcher.WaitToReadAsync(cancellationToken).AsTask();
        if (wakeAt is { } at && !_waiting.IsCompleted)
        {
            // Measured again: time may have moved since the caller looked.
            var remaining = at - time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                return true;
            }

            using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(remaining, time, delayCancel.Token);
            Volatile.Write(ref _armedUntil, at.UtcTicks);
            var done = await Task.WhenAny(_waiting, delay);
            Volatile.Write(ref _armedUntil, 0);
            await delayCancel.CancelAsync();
            if (done != _waiting)
            {
                return true;
            }
        }

        if (!await _waiting)
        {
            return false;
        }

        _waiting = null;
        return true;
    }
}
