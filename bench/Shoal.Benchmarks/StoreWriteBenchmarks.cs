using BenchmarkDotNet.Attributes;
using Shoal.Api;
using Shoal.Store;

namespace Shoal.Benchmarks;

/// <summary>
/// Committed write transactions against 10,000 nodes and 100,000 tasks (no proposer: a commit is the root swap and
/// the watch publish). Updates read the object from the transaction, clone it, change it and write it back, as every
/// caller must (the version check), so that read and clone are inside the measured op.
/// </summary>
[Config(typeof(StoreBenchConfig))]
public class StoreWriteBenchmarks
{
    private const int UpdatesPerBigTransaction = 1_000;

    private StoreFixture _fixture = null!;
    private int _next;

    [GlobalSetup]
    public async Task SetupAsync() => _fixture = await StoreFixture.SharedAsync();

    /// <summary>Mirrors SwarmKit <c>BenchmarkUpdateNodeTransaction</c> (28.3 µs, 14.9 KB): one whole transaction that
    /// renames one node (the name index changes), committed.</summary>
    [Benchmark]
    public async Task UpdateNodeTransaction()
    {
        var i = _next++;
        var id = _fixture.NodeIds[i % _fixture.NodeIds.Length];
        await _fixture.Store.UpdateAsync(tx => tx.Update(Renamed(tx.Nodes.Get(id)!, i)));
    }

    /// <summary>Mirrors SwarmKit <c>BenchmarkUpdateNode</c> (10.0 µs, 5.0 KB): one rename inside one big transaction,
    /// amortised (here 1,000 renames per committed transaction).</summary>
    [Benchmark(OperationsPerInvoke = UpdatesPerBigTransaction)]
    public async Task UpdateNodeInBigTransaction()
    {
        var first = _next;
        _next += UpdatesPerBigTransaction;
        var ids = _fixture.NodeIds;
        await _fixture.Store.UpdateAsync(tx =>
        {
            for (var i = first; i < first + UpdatesPerBigTransaction; i++)
            {
                tx.Update(Renamed(tx.Nodes.Get(ids[i % ids.Length])!, i));
            }
        });
    }

    /// <summary>Mirrors SwarmKit <c>BenchmarkDeleteNodeTransaction</c> (11.3 µs, 10.8 KB): a transaction deletes one
    /// node and is then aborted. SwarmKit aborts by returning an error; ours aborts by throwing, so this includes a
    /// .NET throw and catch.</summary>
    [Benchmark]
    public async Task DeleteNodeTransactionAborted()
    {
        var id = _fixture.NodeIds[_next++ % _fixture.NodeIds.Length];
        try
        {
            await _fixture.Store.UpdateAsync(tx =>
            {
                tx.Delete<Node>(id);
                throw new AbortedException();
            });
        }
        catch (AbortedException)
        {
        }
    }

    /// <summary>One committed transaction that moves one task's status between Running and Shutdown, so the task moves
    /// between two buckets of the state index (the Running one holds ~100,000 ids). No SwarmKit counterpart.</summary>
    [Benchmark]
    public async Task UpdateTask()
    {
        var id = _fixture.TaskIds[_next++ % _fixture.TaskIds.Length];
        await _fixture.Store.UpdateAsync(tx => tx.Update(StatusFlipped(tx.Tasks.Get(id)!)));
    }

    /// <summary>One batch of 200 task status updates, each its own callback: exactly one committed transaction
    /// (StoreOptions.MaxChangesPerTransaction = 200). One op = the whole batch.</summary>
    [Benchmark]
    public async Task<int> BatchCommit200()
    {
        var first = _next;
        _next += 200;
        var ids = _fixture.TaskIds;
        return await _fixture.Store.BatchAsync(async b =>
        {
            for (var i = first; i < first + 200; i++)
            {
                var id = ids[i % ids.Length];
                await b.UpdateAsync(tx => tx.Update(StatusFlipped(tx.Tasks.Get(id)!)));
            }
        });
    }

    internal static Node Renamed(Node stored, int i)
    {
        var copy = stored.Clone();
        copy.Spec.Annotations.Name = string.Concat(stored.Id, "_", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return copy;
    }

    internal static SwarmTask StatusFlipped(SwarmTask stored)
    {
        var copy = stored.Clone();
        var running = copy.Status.State == TaskState.Running;
        copy.Status.State = running ? TaskState.Shutdown : TaskState.Running;
        copy.Status.Message = running ? "shutdown" : "started";
        return copy;
    }

    private sealed class AbortedException : Exception;
}
