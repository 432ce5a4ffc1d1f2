"""Events between the parts of the portal and between nodes: the bus and the signing of its messages (a leaf
package: no domain imports)."""
