using BenchmarkDotNet.Attributes;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Store;

namespace Shoal.Benchmarks;

/// <summary>
/// Creates and deletes against the 10,000-node fixture, each in its own committed transaction. Boundary: every
/// iteration runs exactly <see cref="PerIteration"/> invocations; the untimed IterationSetup makes fresh node messages
/// (for creates) or creates the nodes to delete, and the untimed IterationCleanup removes whatever was created, so the
/// store stays between 10,000 and 10,000 + <see cref="PerIteration"/> nodes.
/// </summary>
[Config(typeof(StoreBenchConfig))]
[InvocationCount(PerIteration)]
public class NodeCreateDeleteBenchmarks
{
    public const int PerIteration = 4_000;

    private StoreFixture _fixture = null!;
    private Node[] _fresh = [];
    private int _next;

    [GlobalSetup]
    public async Task SetupAsync() => _fixture = await StoreFixture.SharedAsync();

    [IterationSetup(Target = nameof(CreateNode))]
    public void PrepareCreates()
    {
        _fresh = NewNodes();
        _next = 0;
    }

    [IterationCleanup(Target = nameof(CreateNode))]
    public void RemoveCreated() => DeleteFresh();

    [IterationSetup(Target = nameof(DeleteNode))]
    public void PrepareDeletes()
    {
        _fresh = NewNodes();
        _next = 0;
        Run(_fixture.Store.UpdateAsync(tx =>
        {
            foreach (var node in _fresh)
            {
                tx.Create(node);
            }
        }));
    }

    [IterationCleanup(Target = nameof(DeleteNode))]
    public void RemoveUndeleted()
    {
        // Exactly PerIteration invocations ran under StoreBenchConfig; another job (e.g. --job dry) may run fewer.
        var left = _fresh.AsSpan(_next).ToArray();
        if (left.Length > 0)
        {
            Run(_fixture.Store.UpdateAsync(tx =>
            {
                foreach (var node in left)
                {
                    tx.Delete<Node>(node.Id);
                }
            }));
        }
    }

    /// <summary>One node created in its own committed transaction. SwarmKit's <c>BenchmarkCreateNode</c> (12.0 µs,
    /// 5.7 KB) amortises creates inside one big transaction instead: see <see cref="NodeBigTransactionBenchmarks"/>.</summary>
    [Benchmark]
    public async Task CreateNode()
    {
        var node = _fresh[_next++];
        await _fixture.Store.UpdateAsync(tx => tx.Create(node));
    }

    /// <summary>One node deleted in its own committed transaction (SwarmKit only measures an aborted delete).</summary>
    [Benchmark]
    public async Task DeleteNode()
    {
        var id = _fresh[_next++].Id;
        await _fixture.Store.UpdateAsync(tx => tx.Delete<Node>(id));
    }

    internal static Node[] NewNodes(int count = PerIteration)
    {
        var nodes = new Node[count];
        for (var i = 0; i < nodes.Length; i++)
        {
            nodes[i] = StoreFixture.NewNode(Identity.NewId(), StoreFixture.DefaultNodes + i);
        }

        return nodes;
    }

    // IterationSetup and IterationCleanup are synchronous; without a proposer the store's writes complete synchronously.
#pragma warning disable VSTHRD002
    internal static void Run(ValueTask write) => write.AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002

    private void DeleteFresh()
    {
        var created = _fresh.AsSpan(0, _next).ToArray();
        Run(_fixture.Store.UpdateAsync(tx =>
        {
            foreach (var node in created)
            {
                tx.Delete<Node>(node.Id);
            }
        }));
    }
}

/// <summary>
/// Mirrors SwarmKit <c>BenchmarkCreateNode</c> (12.0 µs, 5.7 KB per create): creates amortised inside one big
/// transaction (here 1,000 per committed transaction, <see cref="PerIteration"/> per iteration), on the 10,000-node
/// fixture; the untimed IterationCleanup deletes them again.
/// </summary>
[Config(typeof(StoreBenchConfig))]
[InvocationCount(TransactionsPerIteration)]
public class NodeBigTransactionBenchmarks
{
    private const int CreatesPerTransaction = 1_000;
    private const int TransactionsPerIteration = 4;
    private const int PerIteration = CreatesPerTransaction * TransactionsPerIteration;

    private StoreFixture _fixture = null!;
    private Node[] _fresh = [];
    private int _next;

    [GlobalSetup]
    public async Task SetupAsync() => _fixture = await StoreFixture.SharedAsync();

    [IterationSetup]
    public void PrepareCreates()
    {
        _fresh = NodeCreateDeleteBenchmarks.NewNodes(PerIteration);
        _next = 0;
    }

    [IterationCleanup]
    public void RemoveCreated()
    {
        var created = _fresh.AsSpan(0, _next).ToArray();
        NodeCreateDeleteBenchmarks.Run(_fixture.Store.UpdateAsync(tx =>
        {
            foreach (var node in created)
            {
                tx.Delete<Node>(node.Id);
            }
        }));
    }

    [Benchmark(OperationsPerInvoke = CreatesPerTransaction)]
    public async Task CreateNodeInBigTransaction()
    {
        var first = _next;
        _next += CreatesPerTransaction;
        await _fixture.Store.UpdateAsync(tx =>
        {
            for (var i = first; i < first + CreatesPerTransaction; i++)
            {
                tx.Create(_fresh[i]);
            }
        });
    }
}
