using BenchmarkDotNet.Attributes;
using Shoal.Store;

namespace Shoal.Benchmarks;

/// <summary>
/// Watch fan-out: <see cref="Listeners"/> watchers, each drained by its own reader task (WaitToReadAsync + TryRead)
/// that counts what it received. Events come from committed transactions that each update
/// <see cref="EventsPerTransaction"/> task(s); one op is one event. <c>Listeners = 0</c> is the cost of producing
/// the events alone (the transactions), to subtract.
/// </summary>
public abstract class WatchBenchmarkBase
{
    protected const int EventsPerInvoke = 100;

    private readonly List<Task> _readers = [];
    private readonly List<StoreWatcher> _watchers = [];
    private StoreFixture _fixture = null!;
    private long[] _received = [];
    private long _target;
    private int _pending;
    private TaskCompletionSource _done = new();
    private int _next;

    [Params(0, 10, 100, 1000)]
    public int Listeners { get; set; }

    /// <summary>Task updates (events) per committed transaction: 1 is SwarmKit's shape (one event per
    /// <c>Publish</c>); 100 means one transaction per invocation, whose 100 events reach each watcher in one go.</summary>
    protected abstract int EventsPerTransaction { get; }

    protected long Target => Volatile.Read(ref _target);

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await StoreFixture.SharedAsync();
        _received = new long[Listeners];
        for (var i = 0; i < Listeners; i++)
        {
            // No bound that a benchmark could reach: an overflow would close the watcher and hang the wait.
            var watcher = _fixture.Store.Watch(new WatchOptions { Capacity = int.MaxValue });
            _watchers.Add(watcher);
            var slot = i;
            _readers.Add(Task.Run(() => DrainAsync(watcher, slot)));
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        // The fixture is shared with later benchmarks: unsubscribe, and let the readers finish.
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }

        await Task.WhenAll(_readers);
        _watchers.Clear();
        _readers.Clear();
    }

    /// <summary>Arms the wait for the next <see cref="EventsPerInvoke"/> events, then commits the transactions that
    /// produce them.</summary>
    protected async Task PublishAsync(bool armWait)
    {
        if (armWait)
        {
            _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _pending, Listeners);
        }

        Interlocked.Add(ref _target, EventsPerInvoke);
        var ids = _fixture.TaskIds;
        for (var t = 0; t < EventsPerInvoke / EventsPerTransaction; t++)
        {
            var first = _next;
            _next += EventsPerTransaction;
            await _fixture.Store.UpdateAsync(tx =>
            {
                for (var i = first; i < first + EventsPerTransaction; i++)
                {
                    tx.Update(StoreWriteBenchmarks.StatusFlipped(tx.Tasks.Get(ids[i % ids.Length])!));
                }
            });
        }
    }

    protected Task AllReceived => Listeners == 0 ? Task.CompletedTask : _done.Task;

    /// <summary>Whether every reader has counted every event published so far.</summary>
    protected bool AllCaughtUp()
    {
        var target = Target;
        for (var i = 0; i < _received.Length; i++)
        {
            if (Volatile.Read(ref _received[i]) != target)
            {
                return false;
            }
        }

        return true;
    }

    private async Task DrainAsync(StoreWatcher watcher, int slot)
    {
        long count = 0;
        long signalled = 0;
        while (await watcher.WaitToReadAsync())
        {
            while (watcher.TryRead(out _))
            {
                count++;
            }

            Volatile.Write(ref _received[slot], count);
            if (count != signalled && count == Target)
            {
                signalled = count;
                if (Interlocked.Decrement(ref _pending) == 0)
                {
                    _done.TrySetResult();
                }
            }
        }
    }
}

/// <summary>Mirrors SwarmKit <c>BenchmarkWatch10/100/1000</c> (1000 listeners: 138.5 µs per event, ≈140 ns per
/// listener): the op ends when every listener has received the event.</summary>
[Config(typeof(StoreBenchConfig))]
public class WatchDeliveredBenchmarks : WatchBenchmarkBase
{
    [Params(1, 100)]
    public int EventsPerTx { get; set; }

    protected override int EventsPerTransaction => EventsPerTx;

    [Benchmark(OperationsPerInvoke = EventsPerInvoke)]
    public async Task Watch()
    {
        await PublishAsync(armWait: true);
        await AllReceived;
    }
}

/// <summary>Mirrors SwarmKit <c>BenchmarkPublish10/100/1000</c>: the op ends when the publishing commit returns;
/// delivery may still be in flight (readers drain concurrently). The untimed IterationCleanup waits until every
/// reader caught up, so no backlog carries over to the next iteration.</summary>
[Config(typeof(StoreBenchConfig))]
[InvocationCount(20)]
public class WatchPublishBenchmarks : WatchBenchmarkBase
{
    protected override int EventsPerTransaction => 1;

    [Benchmark(OperationsPerInvoke = EventsPerInvoke)]
    public Task Publish() => PublishAsync(armWait: false);

    [IterationCleanup]
    public void WaitForReaders()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!AllCaughtUp())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"readers did not receive all {Target} events within 60 s");
            }

            Thread.Sleep(1);
        }
    }
}
