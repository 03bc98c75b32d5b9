namespace Shoal.Agent.Health;

/// <summary>Where a task stands with its health check (Docker's <c>State.Health.Status</c>).</summary>
internal enum HealthStatus
{
    /// <summary>No check has passed yet.</summary>
    Starting,

    /// <summary>The last check passed, or fewer than <see cref="HealthCheck.Retries"/> have failed since.</summary>
    Healthy,

    /// <summary><see cref="HealthCheck.Retries"/> checks in a row failed (outside the start period): final.</summary>
    Unhealthy,
}

/// <summary>
/// Runs a task's health check on Docker's schedule (moby <c>daemon/health.go</c>) and keeps its status. The first check
/// runs one interval after the monitor starts; the next one an interval after the previous one ended. The interval is
/// <see cref="HealthCheck.StartInterval"/> while no check has passed within the start period,
/// <see cref="HealthCheck.Interval"/> otherwise. A passing check makes the task healthy and resets the failing
/// streak; a failing one adds to the streak, except while no check has passed yet and it started within the start
/// period; <see cref="HealthCheck.Retries"/> failures in a row make the task unhealthy, and the monitor stops.
/// </summary>
/// <remarks>
/// The clock is a <see cref="TimeProvider"/> and the check a delegate, so the schedule is tested with a fake clock and
/// the process part on its own. <c>onChange</c> is called (on the monitor's thread) whenever the status changes.
/// </remarks>
internal sealed class HealthMonitor
{
    private readonly HealthCheck _check;
    private readonly Func<CancellationToken, Task<HealthProbeResult>> _probe;
    private readonly DateTimeOffset _startedAt;
    private readonly TimeProvider _time;
    private readonly Action<HealthStatus> _onChange;
    private readonly Action<HealthProbeResult, int>? _onFailure;
    private readonly Lock _lock = new();
    private HealthStatus _status;
    private int _failingStreak;
    private HealthProbeResult? _last;
    private int _waits;

    /// <param name="check">The check and its schedule.</param>
    /// <param name="probe">Runs the check once (it enforces the timeout itself).</param>
    /// <param name="startedAt">When the task started (the start period counts from there).</param>
    /// <param name="healthy">Whether a check passed before (a task re-adopted while RUNNING): its failures count at once.</param>
    /// <param name="time">The clock of the schedule.</param>
    /// <param name="onChange">Told of every status change.</param>
    /// <param name="onFailure">Told of every failed check, with the failing streak after it (unchanged when it did not count).</param>
    public HealthMonitor(
        HealthCheck check,
        Func<CancellationToken, Task<HealthProbeResult>> probe,
        DateTimeOffset startedAt,
        bool healthy,
        TimeProvider time,
        Action<HealthStatus> onChange,
        Action<HealthProbeResult, int>? onFailure = null)
    {
        _onFailure = onFailure;
        _check = check;
        _probe = probe;
        _startedAt = startedAt;
        _time = time;
        _onChange = onChange;
        _status = healthy ? HealthStatus.Healthy : HealthStatus.Starting;
    }

    /// <summary>The status now.</summary>
    public HealthStatus Status
    {
        get
        {
            lock (_lock)
            {
                return _status;
            }
        }
    }

    /// <summary>Failures in a row that counted.</summary>
    public int FailingStreak
    {
        get
        {
            lock (_lock)
            {
                return _failingStreak;
            }
        }
    }

    /// <summary>The result of the last check (null before the first).</summary>
    public HealthProbeResult? Last
    {
        get
        {
            lock (_lock)
            {
                return _last;
            }
        }
    }

    /// <summary>How many times the monitor has armed its timer for the next check (tests wait for it before moving a fake clock).</summary>
    internal int Waits => Volatile.Read(ref _waits);

    /// <summary>Checks until the task is unhealthy (then returns) or <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (Status != HealthStatus.Unhealthy)
        {
            // The timer is armed before it is counted: a test that saw the count may move its clock.
            var delay = Task.Delay(NextInterval(), _time, cancellationToken);
            Interlocked.Increment(ref _waits);
            await delay;
            var start = _time.GetUtcNow();
            HealthProbeResult result;
            try
            {
                result = await _probe(cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                result = new HealthProbeResult(-1, $"the health check could not run: {e.Message}");
            }

            Record(result, start);
        }
    }

    private TimeSpan NextInterval()
    {
        if (_time.GetUtcNow() - _startedAt >= _check.StartPeriod || Status != HealthStatus.Starting)
        {
            return _check.Interval;
        }

        return _check.StartInterval;
    }

    private void Record(HealthProbeResult result, DateTimeOffset start)
    {
        HealthStatus? changed = null;
        int streak;
        lock (_lock)
        {
            _last = result;
            if (result.Passed)
            {
                _failingStreak = 0;
                if (_status != HealthStatus.Healthy)
                {
                    changed = _status = HealthStatus.Healthy;
                }
            }
            else if (_status != HealthStatus.Starting || start - _startedAt >= _check.StartPeriod)
            {
                _failingStreak++;
                if (_failingStreak >= _check.Retries)
                {
                    changed = _status = HealthStatus.Unhealthy;
                }
            }

            streak = _failingStreak;
        }

        if (!result.Passed)
        {
            _onFailure?.Invoke(result, streak);
        }

        if (changed is { } status)
        {
            _onChange(status);
        }
    }
}
