using System.Diagnostics;
using Shoal.Bench;

namespace Shoal.Integration.Tests.Faults;

/// <summary>
/// Writes through a swarm's API in the background, one after another, while a test breaks things: attempt
/// <c>n</c> (1, 2, …) goes to the next running manager in turn (the nodes the harness named m1, m2, …); every attempt the API acknowledged is recorded with
/// what it returned, every refused or unanswered one with its error (its outcome is unknown: the write may still have
/// been committed).
/// </summary>
public sealed class WriteLoop : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly List<WriteAttempt> _attempts = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private WriteLoop(LocalSwarm swarm, Func<SwarmNodeProcess, int, CancellationToken, Task<ulong>> write, TimeSpan pause, TimeSpan attemptTimeout)
    {
        _loop = Task.Run(() => RunAsync(swarm, write, pause, attemptTimeout, _stop.Token));
    }

    /// <summary>Every attempt so far, in order.</summary>
    public IReadOnlyList<WriteAttempt> Attempts
    {
        get
        {
            lock (_lock)
            {
                return [.. _attempts];
            }
        }
    }

    /// <summary>The acknowledged attempts so far, in order.</summary>
    public IReadOnlyList<WriteAttempt> Acknowledged => [.. Attempts.Where(a => a.Error is null)];

    /// <summary>
    /// Starts writing: <paramref name="write"/> makes attempt <c>n</c> through the manager given and returns a figure
    /// to record (e.g. the object version it wrote on); a pause of <paramref name="pause"/> follows each attempt.
    /// </summary>
    public static WriteLoop Start(LocalSwarm swarm, Func<SwarmNodeProcess, int, CancellationToken, Task<ulong>> write, TimeSpan? pause = null, TimeSpan? attemptTimeout = null) =>
        new(swarm, write, pause ?? TimeSpan.FromMilliseconds(100), attemptTimeout ?? TimeSpan.FromSeconds(10));

    /// <summary>Waits until <paramref name="count"/> more attempts than now were acknowledged.</summary>
    public async Task WaitForMoreAsync(LocalSwarm swarm, int count, string what, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var target = Acknowledged.Count + count;
        await swarm.WaitForAsync(
            _ => Task.FromResult(Acknowledged.Count >= target || _loop.IsCompleted),
            $"{count} more acknowledged writes ({what})",
            timeout,
            TimeSpan.FromMilliseconds(50),
            () => Summary(),
            cancellationToken);
        if (_loop.IsCompleted)
        {
            await _loop;
        }
    }

    /// <summary>Stops after the attempt under way.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>"41 attempts, 35 acknowledged, 6 failed (last error: …)".</summary>
    public string Summary()
    {
        var attempts = Attempts;
        var failed = attempts.Where(a => a.Error is not null).ToList();
        return $"{attempts.Count} attempts, {attempts.Count - failed.Count} acknowledged, {failed.Count} failed" +
            (failed.Count > 0 ? $" (last error, attempt {failed[^1].Step} on {failed[^1].Manager}: {failed[^1].Error})" : string.Empty);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task RunAsync(LocalSwarm swarm, Func<SwarmNodeProcess, int, CancellationToken, Task<ulong>> write, TimeSpan pause, TimeSpan attemptTimeout, CancellationToken cancellationToken)
    {
        var next = 0;
        for (var step = 1; !cancellationToken.IsCancellationRequested; step++)
        {
            var managers = swarm.Running.Where(n => n.Name.StartsWith('m') && n.NodeId is not null).ToList();
            if (managers.Count == 0)
            {
                await Task.Delay(pause, cancellationToken);
                continue;
            }

            var manager = managers[next++ % managers.Count];
            var started = Stopwatch.GetTimestamp();
            WriteAttempt attempt;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(attemptTimeout);
                var figure = await write(manager, step, timeout.Token);
                attempt = new WriteAttempt(step, manager.Name, figure, null, Stopwatch.GetElapsedTime(started));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                attempt = new WriteAttempt(step, manager.Name, 0, "stopped while under way", Stopwatch.GetElapsedTime(started));
            }
            catch (Exception e) when (e is HttpRequestException or IOException or SwarmApiException or OperationCanceledException)
            {
                attempt = new WriteAttempt(step, manager.Name, 0, $"{e.GetType().Name}: {e.Message}", Stopwatch.GetElapsedTime(started));
            }

            lock (_lock)
            {
                _attempts.Add(attempt);
            }

            try
            {
                await Task.Delay(pause, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}

/// <summary>
/// Attempt <paramref name="Step"/> through manager <paramref name="Manager"/>: acknowledged (with the figure the write
/// returned) when <paramref name="Error"/> is null, else refused or unanswered, its outcome unknown.
/// </summary>
public sealed record WriteAttempt(int Step, string Manager, ulong Figure, string? Error, TimeSpan Took);
