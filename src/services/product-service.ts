import {
  productSortValue,
  type Product,
  type ProductFields,
  type ProductFilter,
  type ProductSortField,
} from '../domain/product.js';
import { ResourceService, type ResourceRepository } from './resource-service.js';

/** Storage for products: `insert`/`update` throw ConflictError when the SKU is taken (ignoring case). */
export type ProductRepository = ResourceRepository<Product, ProductFields, ProductSortField, ProductFilter>;

export type ProductService = ResourceService<Product, ProductFields, ProductSortField, ProductFilter>;

export function createProductService(repository: ProductRepository): ProductService {
  return new ResourceService(repository, {
    name: 'Product',
    sortValue: productSortValue,
    normalise: (fields) => fields,
  });
}
