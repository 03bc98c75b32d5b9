using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Shoal.Bench.Hollow;

/// <summary>
/// Many <see cref="HollowWorker"/>s in this process, each with a small data directory (certificates and task records)
/// under one root on tmpfs (<c>/dev/shm</c> when there is one, so the worker's fsync'd task records cost no disk
/// I/O). Joins run with bounded concurrency. Disposing stops every node and deletes the root.
/// </summary>
public sealed class HollowFleet : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly List<HollowWorker> _workers = [];
    private readonly List<string> _failures = [];
    private readonly ILoggerFactory _loggers;
    private int _next = 1;

    /// <param name="executor">The runtime every node shares (tasks are keyed by task ID, unique in the swarm).</param>
    /// <param name="loggers">Where the nodes log; nothing by default (thousands of nodes).</param>
    public HollowFleet(HollowExecutor executor, ILoggerFactory? loggers = null)
    {
        Executor = executor;
        _loggers = loggers ?? NullLoggerFactory.Instance;
        var parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        Root = Path.Combine(parent, "shoal-hollow-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Root);
    }

    /// <summary>The directory every hollow node's data directory is in.</summary>
    public string Root { get; }

    /// <summary>The runtime the nodes share.</summary>
    public HollowExecutor Executor { get; }

    /// <summary>Every node joined so far.</summary>
    public IReadOnlyList<HollowWorker> Workers
    {
        get
        {
            lock (_lock)
            {
                return [.. _workers];
            }
        }
    }

    /// <summary>The nodes not killed.</summary>
    public IReadOnlyList<HollowWorker> Live => [.. Workers.Where(w => !w.IsKilled)];

    /// <summary>Join failures so far (one line each: node name and error).</summary>
    public IReadOnlyList<string> Failures
    {
        get
        {
            lock (_lock)
            {
                return [.. _failures];
            }
        }
    }

    /// <summary>Session failures of every node so far, and the most frequent last messages ("count× message").</summary>
    public (int Failures, string Messages) SessionFailures()
    {
        var workers = Workers;
        var messages = workers.Where(w => w.LastSessionError is not null)
            .GroupBy(w => w.LastSessionError!.Length > 160 ? w.LastSessionError[..160] : w.LastSessionError)
            .OrderByDescending(g => g.Count())
            .Take(3)
            .Select(g => $"{g.Count()}x {g.Key}");
        return (workers.Sum(w => w.SessionFailures), string.Join(" | ", messages));
    }

    /// <summary>
    /// Joins <paramref name="count"/> new nodes with at most <paramref name="concurrency"/> joins in flight; each node's
    /// session starts as soon as it holds its certificate. Failures are recorded (<see cref="Failures"/>), not thrown.
    /// <paramref name="progress"/> hears the number joined every 500.
    /// </summary>
    public async Task JoinAsync(int count, int concurrency, IReadOnlyList<string> managers, string token, Action<int>? progress, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        var names = new List<string>(count);
        lock (_lock)
        {
            for (var i = 0; i < count; i++)
            {
                names.Add($"hollow-{_next++:00000}");
            }
        }

        var joined = 0;
        await Parallel.ForEachAsync(
            names,
            new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (name, ct) =>
            {
                try
                {
                    var worker = await HollowWorker.JoinAsync(name, Path.Combine(Root, name), managers, token, Executor, _loggers, ct);
                    lock (_lock)
                    {
                        _workers.Add(worker);
                    }

                    if (Interlocked.Increment(ref joined) % 500 == 0)
                    {
                        progress?.Invoke(joined);
                    }
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    lock (_lock)
                    {
                        _failures.Add($"{name}: {e.GetType().Name}: {e.Message}");
                    }
                }
            });
    }

    /// <summary>Kills (<see cref="HollowWorker.Kill"/>) <paramref name="count"/> live nodes, spread over the fleet; returns them.</summary>
    public IReadOnlyList<HollowWorker> Kill(int count)
    {
        var live = Live;
        var step = Math.Max(1, live.Count / Math.Max(1, count));
        var victims = live.Where((_, i) => i % step == 0).Take(count).ToList();
        foreach (var victim in victims)
        {
            victim.Kill();
        }

        return victims;
    }

    /// <summary>Stops every node (concurrently, bounded), then deletes the root.</summary>
    public async ValueTask DisposeAsync()
    {
        var started = Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(Workers, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (w, _) => await w.DisposeAsync());
        lock (_lock)
        {
            _workers.Clear();
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"could not delete {Root}: {e.Message}");
        }

        if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(30))
        {
            Console.Error.WriteLine($"stopping the hollow nodes took {Stopwatch.GetElapsedTime(started).TotalSeconds:0} s");
        }
    }
}
