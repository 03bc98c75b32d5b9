using Shoal.Api;
using Shoal.Store;

namespace Shoal.TestKit;

/// <summary>Test shorthands for writing to a store.</summary>
public static class StoreWrites
{
    /// <summary>Creates <paramref name="objects"/> of any kinds in one transaction.</summary>
    public static ValueTask CreateAsync(this MemoryStore store, params IStoreObject[] objects) => store.UpdateAsync(tx =>
    {
        foreach (var obj in objects)
        {
            switch (obj)
            {
                case Node node:
                    tx.Create(node);
                    break;
                case Service service:
                    tx.Create(service);
                    break;
                case SwarmTask task:
                    tx.Create(task);
                    break;
                case Cluster cluster:
                    tx.Create(cluster);
                    break;
                case Network network:
                    tx.Create(network);
                    break;
                case Secret secret:
                    tx.Create(secret);
                    break;
                case Config config:
                    tx.Create(config);
                    break;
                default:
                    throw new ArgumentException($"unexpected object {obj.GetType().Name}", nameof(objects));
            }
        }
    });
}
